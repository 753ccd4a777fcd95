//! SLIP framing (RFC 1055) as the ESP ROM loader uses it: each packet is wrapped in `0xC0`,
//! `0xC0` inside becomes `0xDB 0xDC` and `0xDB` becomes `0xDB 0xDD`. Bytes between frames (boot
//! log, line noise) are not packets and are dropped by the decoder.

/// Frame delimiter.
pub const END: u8 = 0xC0;
/// Escape byte.
pub const ESC: u8 = 0xDB;
/// Escaped END.
pub const ESC_END: u8 = 0xDC;
/// Escaped ESC.
pub const ESC_ESC: u8 = 0xDD;

/// Wraps one packet in a SLIP frame.
pub fn encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 8);
    out.push(END);
    for &b in packet {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(END);
    out
}

/// Incremental SLIP decoder: feed it bytes as they arrive, get whole packets out.
#[derive(Debug, Default)]
pub struct Decoder {
    in_frame: bool,
    escaped: bool,
    buf: Vec<u8>,
}

impl Decoder {
    /// A decoder waiting for the first `0xC0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the packets they complete. A bad escape drops the frame (its bytes
    /// cannot be trusted), as the ROM does.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        for &b in bytes {
            if !self.in_frame {
                if b == END {
                    self.in_frame = true;
                    self.buf.clear();
                }
                continue;
            }
            if self.escaped {
                self.escaped = false;
                match b {
                    ESC_END => self.buf.push(END),
                    ESC_ESC => self.buf.push(ESC),
                    _ => self.in_frame = false,
                }
                continue;
            }
            match b {
                // Two ENDs in a row: the second starts the next frame.
                END if self.buf.is_empty() => {}
                END => packets.push(std::mem::take(&mut self.buf)),
                ESC => self.escaped = true,
                _ => self.buf.push(b),
            }
        }
        packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let packet = [0x00, 0xC0, 0xDB, 0x01, 0xDC, 0xDD];
        let framed = encode(&packet);
        assert_eq!(
            framed,
            [0xC0, 0x00, 0xDB, 0xDC, 0xDB, 0xDD, 0x01, 0xDC, 0xDD, 0xC0]
        );
        let mut d = Decoder::new();
        assert_eq!(d.feed(&framed), vec![packet.to_vec()]);
    }

    #[test]
    fn noise_between_frames_is_dropped_and_split_input_is_joined() {
        let mut d = Decoder::new();
        let mut bytes = b"rst:0x1 waiting for download\r\n".to_vec();
        bytes.extend(encode(&[1, 2, 3]));
        let (a, b) = bytes.split_at(bytes.len() - 2);
        assert!(d.feed(a).is_empty());
        assert_eq!(d.feed(b), vec![vec![1, 2, 3]]);
    }

    #[test]
    fn a_bad_escape_drops_the_frame() {
        let mut d = Decoder::new();
        assert!(d.feed(&[END, 1, ESC, 0x42, 2, END]).is_empty());
        assert_eq!(d.feed(&encode(&[9])), vec![vec![9]]);
    }
}
