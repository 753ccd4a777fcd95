//! Frame syntax: how a line of text on the serial port becomes a frame and back (spec §2).
//!
//! This module owns the CRC, the value escaping, the encoder and the byte-at-a-time decoder that
//! both the station and the device run. The decoder is built to be mirrored in C: one line
//! buffer of [`MAX_FRAME_LEN`] bytes, no allocation besides it, and every byte that is not part of
//! a well-formed frame with a correct CRC is dropped as log noise.

use std::fmt;

use crate::spec::{CRC_HEX_LEN, CRC_SEPARATOR, EMPTY_TOKEN, FRAME_START, MARKER, MAX_FRAME_LEN};

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor), spec §2.3.
/// Check value: `crc16(b"123456789") == 0x29B1`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
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

/// Whether a byte may appear unescaped in a value token (spec §2.5).
fn is_plain_value_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) && !matches!(b, b'%' | b'@' | b'*')
}

/// Whether a byte may appear in any token of a frame (spec §2.2): printable, no space, no `@`.
pub fn is_token_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) && b != FRAME_START
}

/// Escapes a value for the wire (spec §2.5): bytes outside `0x21..=0x7E` and `% @ *` become
/// `%XX` (upper-case hex); the empty value becomes `-`, and a value that is exactly `-` becomes
/// `%2D` so the two stay apart.
pub fn escape_value(value: &[u8]) -> String {
    if value.is_empty() {
        return EMPTY_TOKEN.to_owned();
    }
    if value == EMPTY_TOKEN.as_bytes() {
        return "%2D".to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for &b in value {
        push_escaped(&mut out, b);
    }
    out
}

fn push_escaped(out: &mut String, b: u8) {
    if is_plain_value_byte(b) {
        out.push(char::from(b));
    } else {
        out.push('%');
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0F));
    }
}

/// Length of one byte once escaped.
pub fn escaped_len(b: u8) -> usize {
    if is_plain_value_byte(b) {
        1
    } else {
        3
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble & 0x0F)])
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Why a token or line is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The line does not start with the marker.
    #[error("no frame marker")]
    NoMarker,
    /// The line is longer than the protocol allows.
    #[error("frame longer than {MAX_FRAME_LEN} bytes")]
    TooLong,
    /// The `*CRC` trailer is missing or malformed.
    #[error("missing or malformed checksum")]
    NoChecksum,
    /// The checksum does not match the body.
    #[error("checksum mismatch: frame says {stated:04X}, body gives {computed:04X}")]
    ChecksumMismatch {
        /// CRC written in the frame.
        stated: u16,
        /// CRC computed over the body.
        computed: u16,
    },
    /// The sequence number is not two upper-case hex digits.
    #[error("bad sequence number")]
    BadSeq,
    /// Two spaces in a row, a leading/trailing space, or no command word.
    #[error("bad field layout")]
    BadFields,
    /// A byte that may not appear in a token.
    #[error("byte 0x{0:02X} not allowed in a frame")]
    BadByte(u8),
    /// A `%` escape that is not followed by two hex digits.
    #[error("bad % escape in a value")]
    BadEscape,
}

/// Undoes [`escape_value`]. Accepts lower-case hex digits in escapes.
pub fn unescape_value(token: &str) -> Result<Vec<u8>, FrameError> {
    if token == EMPTY_TOKEN {
        return Ok(Vec::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => return Err(FrameError::BadEscape),
            }
            i += 3;
        } else if is_token_byte(b) {
            out.push(b);
            i += 1;
        } else {
            return Err(FrameError::BadByte(b));
        }
    }
    Ok(out)
}

/// One decoded frame: the sequence number and the words after it, still escaped.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number (spec §2.4).
    pub seq: u8,
    /// The words after the sequence number: command or status first.
    pub words: Vec<String>,
    /// The frame's CRC; with `seq` it identifies a retransmission (spec §6.3).
    pub crc: u16,
}

impl fmt::Debug for Frame {
    // Words may hold an escaped secret (a STAGE of mqtt_password), so Debug shows only the
    // first words and the length of the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: Vec<&str> = self.words.iter().take(2).map(String::as_str).collect();
        f.debug_struct("Frame")
            .field("seq", &self.seq)
            .field("head", &head)
            .field("more_words", &self.words.len().saturating_sub(2))
            .field("crc", &format_args!("{:04X}", self.crc))
            .finish()
    }
}

impl Frame {
    /// The frame's length on the wire as a station sends it, `@` through `\r\n` (spec §2.1):
    /// marker, seq, the words single-spaced, ` *` and the CRC, and the line end. A valid frame
    /// has exactly one spelling, so this is the length of the line it was parsed from plus 2.
    pub fn wire_len(&self) -> usize {
        let words: usize = self.words.iter().map(|w| w.len() + 1).sum();
        MARKER.len() + 2 + words + CRC_SEPARATOR.len() + CRC_HEX_LEN + b"\r\n".len()
    }

    /// Parses one line (without its `\r\n`) into a frame, checking the CRC.
    pub fn parse(line: &[u8]) -> Result<Frame, FrameError> {
        if line.len() + 2 > MAX_FRAME_LEN {
            return Err(FrameError::TooLong);
        }
        if !line.starts_with(MARKER) {
            return Err(FrameError::NoMarker);
        }
        let trailer = CRC_SEPARATOR.len() + CRC_HEX_LEN;
        if line.len() < MARKER.len() + trailer {
            return Err(FrameError::NoChecksum);
        }
        let (body, tail) = line.split_at(line.len() - trailer);
        if !tail.starts_with(CRC_SEPARATOR) {
            return Err(FrameError::NoChecksum);
        }
        let mut stated: u16 = 0;
        for &b in &tail[CRC_SEPARATOR.len()..] {
            // Upper case only: one spelling per frame keeps the C side to a single comparison.
            match b {
                b'0'..=b'9' | b'A'..=b'F' => {
                    stated = (stated << 4) | u16::from(hex_value(b).unwrap_or(0))
                }
                _ => return Err(FrameError::NoChecksum),
            }
        }
        let computed = crc16(body);
        if computed != stated {
            return Err(FrameError::ChecksumMismatch { stated, computed });
        }
        let rest = &body[MARKER.len()..];
        if let Some(&b) = rest.iter().find(|&&b| b != b' ' && !is_token_byte(b)) {
            return Err(FrameError::BadByte(b));
        }
        // Every byte is now printable ASCII, so this cannot fail; the error path keeps the
        // decoder free of panics all the same.
        let rest = std::str::from_utf8(rest).map_err(|_| FrameError::BadFields)?;
        let mut parts = rest.split(' ');
        let seq = parse_seq(parts.next().unwrap_or(""))?;
        let words: Vec<String> = parts.map(str::to_owned).collect();
        if words.is_empty() || words.iter().any(String::is_empty) {
            return Err(FrameError::BadFields);
        }
        Ok(Frame {
            seq,
            words,
            crc: stated,
        })
    }

    /// Encodes a frame: `@DH1 <seq> <words...> *<CRC>\r\n`. Words must already be tokens
    /// (see [`escape_value`]); the caller is responsible for staying within [`MAX_FRAME_LEN`].
    pub fn encode(seq: u8, words: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_FRAME_LEN);
        out.extend_from_slice(MARKER);
        out.push(hex_digit(seq >> 4) as u8);
        out.push(hex_digit(seq & 0x0F) as u8);
        for w in words {
            out.push(b' ');
            out.extend_from_slice(w.as_bytes());
        }
        let crc = crc16(&out);
        out.extend_from_slice(CRC_SEPARATOR);
        for shift in [12u16, 8, 4, 0] {
            out.push(hex_digit(((crc >> shift) & 0x0F) as u8) as u8);
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn parse_seq(token: &str) -> Result<u8, FrameError> {
    let b = token.as_bytes();
    if b.len() != 2 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')) {
        return Err(FrameError::BadSeq);
    }
    let hi = hex_value(b[0]).ok_or(FrameError::BadSeq)?;
    let lo = hex_value(b[1]).ok_or(FrameError::BadSeq)?;
    Ok((hi << 4) | lo)
}

/// Counters of what the decoder threw away; useful to tell a noisy cable from a silent device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Bytes outside any frame candidate (boot log, debug prints, line noise).
    pub noise_bytes: u64,
    /// Lines that started with `@` but were not valid frames (bad CRC, bad fields, too long).
    pub rejected_lines: u64,
    /// Valid frames produced.
    pub frames: u64,
}

/// Byte-at-a-time frame decoder (spec §2.2). Resynchronises on every `@`.
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    line: Vec<u8>,
    in_frame: bool,
    stats: DecoderStats,
}

impl FrameDecoder {
    /// A decoder waiting for the first `@`.
    pub fn new() -> Self {
        Self {
            line: Vec::with_capacity(MAX_FRAME_LEN),
            in_frame: false,
            stats: DecoderStats::default(),
        }
    }

    /// Feeds one byte; returns a frame when this byte completed a valid one.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        if byte == FRAME_START {
            // Whatever was collected was not a frame: a new one starts here.
            if self.in_frame {
                self.stats.rejected_lines += 1;
            }
            self.line.clear();
            self.line.push(byte);
            self.in_frame = true;
            return None;
        }
        if !self.in_frame {
            self.stats.noise_bytes += 1;
            return None;
        }
        match byte {
            b'\n' => {
                self.in_frame = false;
                let result = Frame::parse(&self.line);
                self.wipe_line();
                match result {
                    Ok(frame) => {
                        self.stats.frames += 1;
                        Some(frame)
                    }
                    Err(_) => {
                        self.stats.rejected_lines += 1;
                        None
                    }
                }
            }
            // CR is allowed anywhere a line ends; dropping it everywhere is simplest in C.
            b'\r' => None,
            0x20..=0x7E => {
                if self.line.len() + 2 >= MAX_FRAME_LEN {
                    self.in_frame = false;
                    self.wipe_line();
                    self.stats.rejected_lines += 1;
                } else {
                    self.line.push(byte);
                }
                None
            }
            _ => {
                // A control or 8-bit byte cannot be inside a frame: this line is noise.
                self.in_frame = false;
                self.wipe_line();
                self.stats.rejected_lines += 1;
                None
            }
        }
    }

    /// Feeds a slice; returns every frame completed in it, in order.
    pub fn push_slice(&mut self, bytes: &[u8]) -> Vec<Frame> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }

    /// What has been dropped or decoded so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Forgets any partial frame (e.g. after reconnecting).
    pub fn reset(&mut self) {
        self.in_frame = false;
        self.wipe_line();
    }

    // The line may hold an escaped secret: overwrite before reuse.
    fn wipe_line(&mut self) {
        self.line.iter_mut().for_each(|b| *b = 0);
        self.line.clear();
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        self.wipe_line();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn encode_then_parse() {
        let bytes = Frame::encode(0x01, &["HELLO", "1"]);
        let frame = FrameDecoder::new().push_slice(&bytes);
        assert_eq!(frame.len(), 1);
        assert_eq!(frame[0].seq, 1);
        assert_eq!(frame[0].words, vec!["HELLO", "1"]);
    }

    #[test]
    fn noise_between_frames_is_ignored() {
        let mut input =
            b"ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\nuser@host: ok\n\x00\xff".to_vec();
        input.extend(Frame::encode(7, &["BEGIN"]));
        input.extend_from_slice(b"[dbg] heap=1234 @@@ *1234\n");
        input.extend(Frame::encode(8, &["ABORT"]));
        let mut dec = FrameDecoder::new();
        let frames = dec.push_slice(&input);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].seq, 7);
        assert_eq!(frames[1].words, vec!["ABORT"]);
        assert!(dec.stats().noise_bytes > 0);
        assert!(dec.stats().rejected_lines > 0);
    }

    #[test]
    fn noise_glued_before_a_frame_does_not_hide_it() {
        let mut input = b"dbg: x=5".to_vec();
        input.extend(Frame::encode(9, &["OK", "ABORT"]));
        let frames = FrameDecoder::new().push_slice(&input);
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn crc_error_drops_the_frame() {
        let mut bytes = Frame::encode(3, &["STAGE", "device_id", "0", "abc"]);
        bytes[12] ^= 0x01;
        assert!(FrameDecoder::new().push_slice(&bytes).is_empty());
        let line = &Frame::encode(3, &["ABORT"]);
        let mut bad = line[..line.len() - 2].to_vec();
        let n = bad.len();
        bad[n - 1] = if bad[n - 1] == b'0' { b'1' } else { b'0' };
        assert!(matches!(
            Frame::parse(&bad),
            Err(FrameError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn split_reads_reassemble() {
        let bytes = Frame::encode(0x42, &["OK", "COMMIT", "7"]);
        let mut dec = FrameDecoder::new();
        let mut frames = Vec::new();
        for chunk in bytes.chunks(3) {
            frames.extend(dec.push_slice(chunk));
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 0x42);
    }

    #[test]
    fn overlong_line_is_dropped_and_decoder_recovers() {
        let mut input = b"@DH1 01 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 500));
        input.push(b'\n');
        input.extend(Frame::encode(2, &["ABORT"]));
        let frames = FrameDecoder::new().push_slice(&input);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 2);
    }

    #[test]
    fn lost_newline_recovers_at_next_marker() {
        let first = Frame::encode(1, &["HELLO", "1"]);
        let mut input = first[..first.len() - 1].to_vec();
        input.extend(Frame::encode(1, &["HELLO", "1"]));
        let frames = FrameDecoder::new().push_slice(&input);
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn bad_layouts_are_rejected() {
        for body in [
            &b"@DH1 01  HELLO"[..],
            b"@DH1 1 HELLO",
            b"@DH1 0g HELLO",
            b"@DH1 01",
            b"@DH1 01 HELLO ",
            b"@DH2 01 HELLO",
        ] {
            let mut line = body.to_vec();
            let crc = crc16(&line);
            line.extend(format!(" *{crc:04X}").bytes());
            assert!(
                Frame::parse(&line).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn escaping_examples() {
        assert_eq!(escape_value(b""), "-");
        assert_eq!(escape_value(b"-"), "%2D");
        assert_eq!(escape_value(b"a-b"), "a-b");
        assert_eq!(escape_value(b"p@ss w%rd*"), "p%40ss%20w%25rd%2A");
        assert_eq!(escape_value("é".as_bytes()), "%C3%A9");
        assert_eq!(unescape_value("%2d").as_deref(), Ok(&b"-"[..]));
        assert_eq!(unescape_value("%4"), Err(FrameError::BadEscape));
    }

    fn token() -> impl Strategy<Value = String> {
        proptest::collection::vec((0x21u8..=0x7E).prop_filter("no @", |b| *b != b'@'), 1..20)
            .prop_map(|v| String::from_utf8(v).unwrap_or_default())
            .prop_filter("non-empty", |s| !s.is_empty())
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut dec = FrameDecoder::new();
            for f in dec.push_slice(&bytes) {
                prop_assert!(!f.words.is_empty());
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Frame::parse(&bytes);
        }

        #[test]
        fn decoder_never_panics_on_marker_prefixed_garbage(
            tail in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let mut input = b"@DH1 ".to_vec();
            input.extend(tail);
            input.push(b'\n');
            let _ = FrameDecoder::new().push_slice(&input);
        }

        #[test]
        fn frames_round_trip(seq in any::<u8>(), words in proptest::collection::vec(token(), 1..6)) {
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let bytes = Frame::encode(seq, &refs);
            prop_assume!(bytes.len() <= MAX_FRAME_LEN);
            let frames = FrameDecoder::new().push_slice(&bytes);
            prop_assert_eq!(frames.len(), 1);
            prop_assert_eq!(frames[0].seq, seq);
            prop_assert_eq!(&frames[0].words, &words);
        }

        #[test]
        fn frames_survive_surrounding_noise(
            seq in any::<u8>(),
            words in proptest::collection::vec(token(), 1..4),
            before in proptest::collection::vec(any::<u8>().prop_filter("no @", |b| *b != b'@'), 0..200),
            after in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let frame = Frame::encode(seq, &refs);
            prop_assume!(frame.len() <= MAX_FRAME_LEN);
            let mut input = before;
            input.extend(&frame);
            input.extend(after);
            let frames = FrameDecoder::new().push_slice(&input);
            prop_assert!(!frames.is_empty());
            prop_assert_eq!(frames[0].seq, seq);
            prop_assert_eq!(&frames[0].words, &words);
        }

        #[test]
        fn values_round_trip(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let token = escape_value(&value);
            prop_assert!(token.bytes().all(is_token_byte));
            prop_assert!(!token.is_empty());
            prop_assert_eq!(unescape_value(&token)?, value);
        }
    }
}
