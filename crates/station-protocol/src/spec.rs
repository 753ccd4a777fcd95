//! Every number and name of protocol versions 1 and 1.1, in one place.
//!
//! This module owns the constants that `docs/protocol.md` defines; each one names the section of
//! the spec it comes from. The C module's copy (`firmware/include/dh_spec.h`) is checked against
//! this file, both ways, by `tests/c_header.rs`. Nothing else in the crate may repeat one of these
//! values as a literal.

use std::time::Duration;

/// Protocol version this crate speaks (spec §1). Sent in HELLO, answered by the device.
pub const PROTOCOL_VERSION: u16 = 1;

/// Start marker of every frame, including the space after it (spec §2.1). `@` never appears
/// inside a frame except as the first byte, so the receiver restarts a frame on every `@`.
pub const MARKER: &[u8] = b"@DH1 ";

/// The byte that starts a frame (spec §2.2).
pub const FRAME_START: u8 = b'@';

/// Separates the frame body from its checksum: `<body> *<CRC>` (spec §2.1).
pub const CRC_SEPARATOR: &[u8] = b" *";

/// Number of hex digits of the CRC-16 (spec §2.3).
pub const CRC_HEX_LEN: usize = 4;

/// Longest frame, from `@` through the final `\n`, including an optional `\r` (spec §2.1).
/// Chosen so that an 8-bit MCU with 2 KB RAM can hold one whole line.
pub const MAX_FRAME_LEN: usize = 200;

/// Request words echoed in an ERR reply (an unknown command or key) are cut to this many bytes
/// before escaping, so a reply always fits in [`MAX_FRAME_LEN`] (spec §3.2).
pub const MAX_ECHO_BYTES: usize = 16;

/// Longest escaped value chunk in one STAGE or READ frame (spec §4.4). With the longest key
/// name, offsets and framing this keeps every frame within [`MAX_FRAME_LEN`].
pub const MAX_CHUNK_ENCODED: usize = 128;

/// Largest STAGE or READ offset: the offset is at most three decimal digits (spec §4.4).
pub const MAX_OFFSET: usize = 999;

/// Sequence number reserved for frames the device sends unprompted (spec §2.4); requests use
/// 1..=255 and wrap from 255 to 1.
pub const SEQ_UNSOLICITED: u8 = 0;

/// Token meaning "empty value" in a value position (spec §2.5).
pub const EMPTY_TOKEN: &str = "-";

/// Token meaning "none" in HELLO's generation field (spec §4.1).
pub const NONE_TOKEN: &str = "-";

/// Reply status words (spec §3).
pub const STATUS_OK: &str = "OK";
/// Reply status word of a refusal (spec §3).
pub const STATUS_ERR: &str = "ERR";

/// Capabilities a version-1 device advertises in HELLO (spec §4.1): chunked STAGE with offsets
/// and READ of non-secret keys.
pub const CAPABILITIES_V1: &[&str] = &["CHUNK", "READ"];

/// Longest capabilities field in HELLO (spec §4.1).
pub const MAX_CAPABILITIES_LEN: usize = 48;

/// Hardware id: chip unique id as upper-case hex, 1..=16 bytes (spec §4.1).
pub const MAX_HARDWARE_ID_HEX: usize = 32;

/// Firmware version string: 1..=32 of `[A-Za-z0-9._+-]` (spec §4.1).
pub const MAX_FIRMWARE_VERSION_LEN: usize = 32;

/// Magic that starts the canonical encoding; it names the encoding's version (spec §5).
pub const CANONICAL_MAGIC: &[u8] = b"DHCFG1";

/// Bytes before each value in the canonical encoding: the key's id, then the value's length as
/// two big-endian bytes (spec §5.2).
pub const KEY_HEADER_LEN: usize = 3;

/// Length of the SHA-256 digest COMMIT carries and the stored blob ends with (spec §5.3, §7.4).
pub const DIGEST_LEN: usize = 32;

// ---- Keys (spec §5.1). Order = canonical order; `id` = byte in the canonical encoding.

/// One config key as the spec defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Name on the wire.
    pub name: &'static str,
    /// Id in the canonical encoding (spec §5.2).
    pub id: u8,
    /// Shortest value in bytes.
    pub min_len: usize,
    /// Longest value in bytes.
    pub max_len: usize,
    /// Write-only: never read back, never logged.
    pub secret: bool,
}

/// Longest device id.
pub const MAX_DEVICE_ID_LEN: usize = 128;
/// Longest MQTT user name, password or API key.
pub const MAX_CREDENTIAL_LEN: usize = 128;
/// Longest broker host name (DNS limit).
pub const MAX_BROKER_HOST_LEN: usize = 253;
/// Longest MQTT topic.
pub const MAX_TOPIC_LEN: usize = 200;

const fn key(name: &'static str, id: u8, min_len: usize, max_len: usize, secret: bool) -> KeySpec {
    KeySpec {
        name,
        id,
        min_len,
        max_len,
        secret,
    }
}

/// Every key of version 1, in canonical order.
pub const KEYS: [KeySpec; 11] = [
    key("device_id", 1, 1, MAX_DEVICE_ID_LEN, false),
    key("mqtt_username", 2, 0, MAX_CREDENTIAL_LEN, false),
    key("mqtt_password", 3, 0, MAX_CREDENTIAL_LEN, true),
    key("api_key", 4, 0, MAX_CREDENTIAL_LEN, true),
    key("broker_host", 5, 1, MAX_BROKER_HOST_LEN, false),
    key("broker_port", 6, 1, 5, false),
    key("broker_tls", 7, 1, 1, false),
    key("topic_data", 8, 1, MAX_TOPIC_LEN, false),
    key("topic_status", 9, 1, MAX_TOPIC_LEN, false),
    key("topic_cmd", 10, 1, MAX_TOPIC_LEN, false),
    key("generation", 11, 1, 10, false),
];

/// Sum of all keys' `max_len`: the most value bytes a device stages (spec §7.1).
pub const MAX_VALUES_LEN: usize = 1381;

/// Largest stored blob: magic, 11 × (id + length), values, SHA-256 trailer (spec §7.4).
pub const MAX_BLOB_LEN: usize =
    CANONICAL_MAGIC.len() + KEYS.len() * KEY_HEADER_LEN + MAX_VALUES_LEN + DIGEST_LEN;

// ---- Commands (spec §4): wire name, id, per-attempt timeout, attempts.

/// One command as the spec defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// Name on the wire.
    pub name: &'static str,
    /// Stable number (logs, firmware switch).
    pub id: u8,
    /// How long the station waits for the reply to one attempt (spec §6.1).
    pub timeout: Duration,
    /// Sends of one request (same seq) before giving up (spec §6.2).
    pub attempts: u32,
}

/// Every command of version 1 (and 1.1's BAUD and PROVE, spec §10.1 and §10.3), in id order.
pub const COMMANDS: [CommandSpec; 8] = [
    CommandSpec {
        name: "HELLO",
        id: 0x01,
        timeout: TIMEOUT_HELLO,
        attempts: HELLO_ATTEMPTS,
    },
    CommandSpec {
        name: "BEGIN",
        id: 0x02,
        timeout: TIMEOUT_BEGIN,
        attempts: MAX_ATTEMPTS,
    },
    CommandSpec {
        name: "STAGE",
        id: 0x03,
        timeout: TIMEOUT_STAGE,
        attempts: MAX_ATTEMPTS,
    },
    CommandSpec {
        name: "COMMIT",
        id: 0x04,
        timeout: TIMEOUT_COMMIT,
        attempts: MAX_ATTEMPTS,
    },
    CommandSpec {
        name: "ABORT",
        id: 0x05,
        timeout: TIMEOUT_ABORT,
        attempts: MAX_ATTEMPTS,
    },
    CommandSpec {
        name: "READ",
        id: 0x06,
        timeout: TIMEOUT_READ,
        attempts: MAX_ATTEMPTS,
    },
    CommandSpec {
        name: "BAUD",
        id: 0x07,
        timeout: TIMEOUT_BAUD,
        attempts: BAUD_ATTEMPTS,
    },
    CommandSpec {
        name: "PROVE",
        id: 0x08,
        timeout: TIMEOUT_PROVE,
        attempts: MAX_ATTEMPTS,
    },
];

// ---- Error codes (spec §3.2): wire name and stable number.

/// Every error code of version 1 and 1.1 (`LOCKED`, `STALE_GENERATION`: spec §10.3):
/// (wire name, number).
pub const ERROR_CODES: [(&str, u8); 17] = [
    ("BUSY", 1),
    ("BAD_FRAME", 2),
    ("UNKNOWN_COMMAND", 3),
    ("UNSUPPORTED_VERSION", 4),
    ("NO_SESSION", 5),
    ("UNKNOWN_KEY", 6),
    ("BAD_VALUE", 7),
    ("BAD_OFFSET", 8),
    ("MISSING_KEY", 9),
    ("DIGEST_MISMATCH", 10),
    ("HWID_MISMATCH", 11),
    ("STORAGE_FULL", 12),
    ("STORAGE_FAILED", 13),
    ("WRITE_ONLY", 14),
    ("NO_CONFIG", 15),
    ("LOCKED", 16),
    ("STALE_GENERATION", 17),
];

// ---- Timeouts (spec §6.1). Measured from the end of the request to the end of the reply;
// ---- each includes the wire time of a 200-byte reply at 115200 baud (about 17 ms).

/// HELLO must be answered quickly; retries cover the boot time instead.
pub const TIMEOUT_HELLO: Duration = Duration::from_millis(400);
/// BEGIN may erase a staging area.
pub const TIMEOUT_BEGIN: Duration = Duration::from_millis(1000);
/// STAGE may write a chunk to a staging area in flash.
pub const TIMEOUT_STAGE: Duration = Duration::from_millis(600);
/// COMMIT hashes everything and writes flash: the slowest command.
pub const TIMEOUT_COMMIT: Duration = Duration::from_millis(3000);
/// ABORT only clears state.
pub const TIMEOUT_ABORT: Duration = Duration::from_millis(600);
/// READ returns one chunk from committed config.
pub const TIMEOUT_READ: Duration = Duration::from_millis(400);

// ---- Retries (spec §6.2).

/// Attempts (first send plus retransmissions, same seq) for every command but HELLO.
pub const MAX_ATTEMPTS: u32 = 4;
/// Attempts for HELLO: about 8 s at [`TIMEOUT_HELLO`], enough for a device to boot.
pub const HELLO_ATTEMPTS: u32 = 20;
/// How many BUSY replies to one request the host accepts before giving up.
pub const MAX_BUSY_REPLIES: u32 = 10;
/// First wait after a BUSY reply; doubles each time up to [`BUSY_BACKOFF_MAX`].
pub const BUSY_BACKOFF_START: Duration = Duration::from_millis(50);
/// Longest wait after a BUSY reply.
pub const BUSY_BACKOFF_MAX: Duration = Duration::from_millis(800);

// ---- Serial line (spec §1).

/// Line speed of the USB-serial bridge (8N1, no flow control).
pub const BAUD_RATE: u32 = 115_200;
/// Bits on the wire per byte at 8N1: start + 8 data + stop.
pub const BITS_PER_BYTE: u32 = 10;

// ---- Version 1.1: a faster wire (spec §10.1).

/// Capability token of a device that can switch its line speed with BAUD (spec §10.1).
pub const CAP_BAUD: &str = "BAUD";
/// BAUD is answered at once, at the old rate (spec §10.1).
pub const TIMEOUT_BAUD: Duration = Duration::from_millis(400);
/// BAUD is sent once: a copy re-sent at the old rate would reach a device already listening at
/// the new one (spec §10.1).
pub const BAUD_ATTEMPTS: u32 = 1;
/// A device away from [`BAUD_RATE`] returns to it after this long without receiving a valid
/// frame or sending a reply (spec §10.1).
pub const BAUD_IDLE_REVERT: Duration = Duration::from_millis(1000);
/// The station waits this long after switching its side before talking at the new rate
/// (spec §10.1).
pub const BAUD_SETTLE: Duration = Duration::from_millis(20);
/// Rates the station asks for, in order; it falls to the next on BAD_VALUE (spec §10.1). The
/// standard rates every USB-serial bridge runs come first; then the rates a 16 MHz AVR divides
/// exactly (921600 is 8.5 % off there), which the AVR example offers.
pub const FAST_BAUD_RATES: [u32; 6] = [921_600, 460_800, 230_400, 1_000_000, 500_000, 250_000];
/// HELLO sends at the new rate before the station gives the switch up (spec §10.1).
pub const HELLO_ATTEMPTS_AFTER_BAUD: u32 = 3;
/// After a request at a fast rate goes unanswered, the station waits this long beyond
/// [`BAUD_IDLE_REVERT`] (counted from its send) before it retransmits at 115200: a device may check
/// its timer a little late (spec §10.1).
pub const BAUD_REVERT_MARGIN: Duration = Duration::from_millis(50);

// ---- Version 1.1: possession proofs (spec §10.3).

/// Capability token of a device that answers PROVE (spec §10.3).
pub const CAP_PROVE: &str = "PROVE";
/// PROVE hashes a few blocks: answered as quickly as a STAGE (spec §10.3).
pub const TIMEOUT_PROVE: Duration = Duration::from_millis(600);
/// Hex digits of PROVE's nonce: 16 random bytes (spec §10.3).
pub const PROVE_NONCE_HEX: usize = 32;
/// Hex digits of PROVE's mac: an HMAC-SHA256 (spec §10.3).
pub const PROVE_MAC_HEX: usize = 64;
/// The text a proof's message starts with; the message is
/// `DHPROVE1:<device_id>:<nonce in lower-case hex>` (spec §10.3).
pub const PROOF_MESSAGE_PREFIX: &str = "DHPROVE1";
/// Verifiers the station keeps per issued password: each proves one contact (spec §10.3).
pub const PROOF_VERIFIERS: usize = 8;

// ---- Version 1.1: the write gate (spec §10.3).

/// Capability token of a device with the write gate: once a config is committed it refuses a
/// new write (`LOCKED`) unless its application allows it, and a COMMIT whose generation is not
/// above the committed one is refused (`STALE_GENERATION`) (spec §10.3).
pub const CAP_GATE: &str = "GATE";

// ---- Version 1.1: small receive buffers (spec §10.2).

/// Capability token prefix of a device with a small receive buffer: `FRAME<n>`, `n` the largest
/// STAGE frame it accepts, `@` through `\n` (spec §10.2).
pub const CAP_FRAME_PREFIX: &str = "FRAME";
/// The smallest `n` a `FRAME<n>` may name: every request of version 1.1 but COMMIT fits it, and
/// a STAGE of the longest key at a three-digit offset still carries a chunk (spec §10.2).
pub const MIN_FRAME_LIMIT: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_limits_are_consistent() {
        assert_eq!(
            KEYS.iter().map(|k| k.max_len).sum::<usize>(),
            MAX_VALUES_LEN
        );
        for (i, k) in KEYS.iter().enumerate() {
            assert_eq!(usize::from(k.id), i + 1);
        }
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(usize::from(c.id), i + 1);
        }
        for (i, (_, n)) in ERROR_CODES.iter().enumerate() {
            assert_eq!(usize::from(*n), i + 1);
        }
    }

    /// VECTOR-PROVE: §8.3's device (`dh-000123`, password `s3cr3t pass%@*`) answering
    /// `PROVE 000102030405060708090a0b0c0d0e0f`. The literal was computed independently with
    /// Python's `hmac.new(password, message, hashlib.sha256)`.
    #[test]
    fn prove_test_vector() {
        let cfg = crate::config::test_vector_config();
        let nonce: [u8; 16] = std::array::from_fn(|i| i as u8);
        let mac = crate::proof::proof_mac(cfg.mqtt_password.as_bytes(), &cfg.device_id, &nonce);
        assert_eq!(
            hex::encode(mac),
            "b05f5c0b9867bbb560f834805de6a8bb37ec67051792c3a18d6912a71e316f01"
        );
        assert_eq!(
            crate::proof::proof_message(&cfg.device_id, &nonce),
            b"DHPROVE1:dh-000123:000102030405060708090a0b0c0d0e0f"
        );
        assert_eq!(hex::encode(nonce).len(), PROVE_NONCE_HEX);
        assert_eq!(hex::encode(mac).len(), PROVE_MAC_HEX);
    }

    #[test]
    fn longest_frames_fit() {
        // STAGE <longest key> <3-digit offset> <chunk>, with marker, seq, CRC and CRLF.
        let longest_key = KEYS.iter().map(|k| k.name.len()).max().unwrap_or(0);
        let stage =
            MARKER.len() + 2 + " STAGE ".len() + longest_key + 4 + 1 + MAX_CHUNK_ENCODED + 8;
        assert!(stage <= MAX_FRAME_LEN, "{stage}");
        let read_reply =
            MARKER.len() + 2 + " OK READ ".len() + longest_key + 4 + 4 + 1 + MAX_CHUNK_ENCODED + 8;
        assert!(read_reply <= MAX_FRAME_LEN, "{read_reply}");
    }
}
