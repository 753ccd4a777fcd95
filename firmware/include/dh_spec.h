/* SPDX-License-Identifier: MIT */
/*
 * dh_spec.h - every number and name of DeviceHub provisioning protocol version 1 and of the
 * version 1.1 additions this module implements (spec 10.1 BAUD, 10.2 FRAME<n>, 10.3 PROVE and
 * GATE).
 *
 * This header owns the constants of docs/protocol.md for the C side, and each value names the
 * spec section it comes from. crates/station-protocol/tests/c_header.rs checks every one against
 * the Rust tables (crates/station-protocol/src/spec.rs), both ways: a constant added, removed or
 * changed on one side only fails that test. Nothing else in firmware/ may repeat one of these
 * values as a literal.
 */
#ifndef DH_SPEC_H
#define DH_SPEC_H

/* Protocol version this module speaks (spec 1, 4.1). */
#define DH_PROTOCOL_VERSION 1u

/* Start of every frame, including the space after it (spec 2.1). */
#define DH_MARKER "@DH1 "
#define DH_MARKER_LEN 5u
/* The byte that (re)starts a frame in the receiver (spec 2.2). */
#define DH_FRAME_START '@'

/* Longest frame from '@' through '\n' (spec 2.1); the line buffer holds it without "\r\n". */
#define DH_MAX_FRAME_LEN 200u
#define DH_MAX_LINE_LEN (DH_MAX_FRAME_LEN - 2u)
/* Request words echoed in an ERR reply are cut to this many bytes before escaping, so a
 * reply always fits in a frame (spec 3.2; MAX_ECHO_BYTES in spec.rs). */
#define DH_MAX_ECHO_BYTES 16u
/* " *XXXX" after the body (spec 2.1, 2.3). */
#define DH_CRC_TRAILER_LEN 6u

/* Longest escaped chunk of a value: a STAGE chunk word beyond it is BAD_FRAME, and READ
 * replies never send a longer one (spec 4.4, 4.6). */
#define DH_MAX_CHUNK_ENCODED 128u
/* Largest STAGE/READ offset (spec 4.4). */
#define DH_MAX_OFFSET 999u

/* Sequence number reserved for unsolicited device frames (spec 2.4). */
#define DH_SEQ_UNSOLICITED 0u

/* The empty value in a value position (spec 2.5), and "none" in HELLO's generation (4.1). */
#define DH_EMPTY_TOKEN '-'
#define DH_NONE_TOKEN '-'

/* Reply status words (spec 3). */
#define DH_STATUS_OK "OK"
#define DH_STATUS_ERR "ERR"

/* Capabilities of a version-1 device (spec 4.1). */
#define DH_CAPABILITIES "CHUNK,READ"
/* Version 1.1 (spec 10.1): a device that can switch its UART rate appends ",BAUD" to the
 * capabilities above (only when the application gave the library a rate switch). */
#define DH_CAP_BAUD "BAUD"
/* Version 1.1 (spec 10.3): a device that answers PROVE appends ",PROVE" after them (only when
 * the application called dh_enable_prove()). */
#define DH_CAP_PROVE "PROVE"
/* Version 1.1 (spec 10.3): a device with the write gate appends ",GATE" after them (only when
 * the application called dh_enable_gate()): once a config is committed, BEGIN and COMMIT are
 * refused with LOCKED unless the application's write_allowed() says yes, and a COMMIT whose
 * generation is not above the committed one is refused with STALE_GENERATION. */
#define DH_CAP_GATE "GATE"
/* Version 1.1 (spec 10.2): a device built with a receive limit below DH_MAX_FRAME_LEN appends
 * ",FRAME<n>" last (n = DH_RX_FRAME_LEN, dh_device.h); n is at least DH_MIN_FRAME_LIMIT. */
#define DH_CAP_FRAME_PREFIX "FRAME"
#define DH_MIN_FRAME_LIMIT 64u

/* Hardware id: 1..16 bytes, sent as 2..32 upper-case hex digits (spec 4.1). */
#define DH_MAX_HWID_BYTES 16u
/* Firmware version: 1..32 of [A-Za-z0-9._+-] (spec 4.1). */
#define DH_MAX_FW_VERSION_LEN 32u

/* Canonical encoding (spec 5.2): magic, then id (1 byte) + length (2 bytes, BE) per key. */
#define DH_CANONICAL_MAGIC "DHCFG1"
#define DH_MAGIC_LEN 6u
#define DH_KEY_HEADER_LEN 3u
#define DH_DIGEST_LEN 32u

/* Config keys, canonical order = id order (spec 5.1). */
enum dh_key {
    DH_KEY_DEVICE_ID = 1,
    DH_KEY_MQTT_USERNAME = 2,
    DH_KEY_MQTT_PASSWORD = 3,
    DH_KEY_API_KEY = 4,
    DH_KEY_BROKER_HOST = 5,
    DH_KEY_BROKER_PORT = 6,
    DH_KEY_BROKER_TLS = 7,
    DH_KEY_TOPIC_DATA = 8,
    DH_KEY_TOPIC_STATUS = 9,
    DH_KEY_TOPIC_CMD = 10,
    DH_KEY_GENERATION = 11
};
#define DH_KEY_COUNT 11u

/* Longest values in bytes (spec 5.1). */
#define DH_MAX_DEVICE_ID_LEN 128u
#define DH_MAX_CREDENTIAL_LEN 128u /* mqtt_username, mqtt_password, api_key */
#define DH_MAX_BROKER_HOST_LEN 253u
#define DH_MAX_BROKER_PORT_LEN 5u
#define DH_MAX_BROKER_TLS_LEN 1u
#define DH_MAX_TOPIC_LEN 200u
#define DH_MAX_GENERATION_LEN 10u
/* broker_port is canonical decimal in this range; generation any u32 (spec 5.1). */
#define DH_MIN_BROKER_PORT 1u
#define DH_MAX_BROKER_PORT 65535UL

/* Sum of every key's max_len (spec 7.1), and the largest stored blob (spec 7.4). */
#define DH_MAX_VALUES_LEN 1381u
#define DH_BLOB_OVERHEAD (DH_MAGIC_LEN + DH_KEY_COUNT * DH_KEY_HEADER_LEN + DH_DIGEST_LEN)
#define DH_MAX_BLOB_LEN (DH_BLOB_OVERHEAD + DH_MAX_VALUES_LEN)

/* Commands (spec 4); the number is stable, the wire carries the name. */
enum dh_command {
    DH_CMD_HELLO = 1,
    DH_CMD_BEGIN = 2,
    DH_CMD_STAGE = 3,
    DH_CMD_COMMIT = 4,
    DH_CMD_ABORT = 5,
    DH_CMD_READ = 6,
    DH_CMD_BAUD = 7, /* version 1.1, spec 10.1 */
    DH_CMD_PROVE = 8 /* version 1.1, spec 10.3 */
};
#define DH_COMMAND_COUNT 8u

/* The faster wire (spec 1, 10.1). The link runs at DH_BAUD_DEFAULT after a reset, and a
 * device whose rate is not DH_BAUD_DEFAULT returns to it by itself after
 * DH_BAUD_IDLE_REVERT_MS without a valid frame received or a reply sent. BAUD is sent once
 * (DH_BAUD_ATTEMPTS: a copy re-sent at the old rate would reach a device already listening at
 * the new one), so it is never cached; the device must have answered and drained its
 * transmitter within the station's DH_TIMEOUT_BAUD_MS. */
#define DH_BAUD_DEFAULT 115200UL
#define DH_BAUD_IDLE_REVERT_MS 1000u
#define DH_TIMEOUT_BAUD_MS 400u
#define DH_BAUD_ATTEMPTS 1u

/* Possession proofs (spec 10.3). PROVE's nonce is DH_PROVE_NONCE_HEX hex digits (either case;
 * any other length or digit is BAD_FRAME), its reply DH_PROVE_MAC_HEX lower-case hex digits:
 * HMAC-SHA256 keyed with the committed mqtt_password over the ASCII message
 * "<DH_PROOF_MESSAGE_PREFIX>:<device_id>:<nonce in lower case>". The device must have hashed
 * and answered within the station's DH_TIMEOUT_PROVE_MS (two SHA-256 runs over about 200
 * bytes and three key blocks: a few milliseconds on an 8-bit MCU, plus the storage reads). */
#define DH_PROVE_NONCE_HEX 32u
#define DH_PROVE_MAC_HEX 64u
#define DH_PROOF_MESSAGE_PREFIX "DHPROVE1"
#define DH_TIMEOUT_PROVE_MS 600u

/* Error codes (spec 3.2); the number is stable, the wire carries the name. */
enum dh_error_code {
    DH_ERR_BUSY = 1,
    DH_ERR_BAD_FRAME = 2,
    DH_ERR_UNKNOWN_COMMAND = 3,
    DH_ERR_UNSUPPORTED_VERSION = 4,
    DH_ERR_NO_SESSION = 5,
    DH_ERR_UNKNOWN_KEY = 6,
    DH_ERR_BAD_VALUE = 7,
    DH_ERR_BAD_OFFSET = 8,
    DH_ERR_MISSING_KEY = 9,
    DH_ERR_DIGEST_MISMATCH = 10,
    DH_ERR_HWID_MISMATCH = 11,
    DH_ERR_STORAGE_FULL = 12,
    DH_ERR_STORAGE_FAILED = 13,
    DH_ERR_WRITE_ONLY = 14,
    DH_ERR_NO_CONFIG = 15,
    DH_ERR_LOCKED = 16,          /* version 1.1, spec 10.3 */
    DH_ERR_STALE_GENERATION = 17 /* version 1.1, spec 10.3 */
};
#define DH_ERROR_CODE_COUNT 17u

#endif /* DH_SPEC_H */
