//! The test vectors in docs/protocol.md are what this crate computes: firmware authors test
//! their C against the document, so the document must not drift from the code.

use station_protocol::codec::FrameDecoder;
use station_protocol::codec::{crc16, escape_value};
use station_protocol::config::{canonical_encoding, config_digest, test_vector_config};
use station_protocol::device::{DeviceModel, MemoryStorage};
use station_protocol::message::ErrorReply;
use station_protocol::message::{HelloInfo, Reply, Request, Response};
use station_protocol::{spec, DeviceErrorCode, Key};
use zeroize::Zeroizing;

const SPEC: &str = include_str!("../../../docs/protocol.md");

fn line(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .expect("ascii")
        .trim_end_matches("\r\n")
        .to_owned()
}

/// Every frame example the spec shows, computed.
fn frame_examples() -> Vec<String> {
    let cfg = test_vector_config();
    let hello_ok = Reply::Hello(HelloInfo {
        version: 1,
        capabilities: vec!["CHUNK".into(), "READ".into()],
        hardware_id: "A1B2C3D4E5F60718".into(),
        firmware_version: "fw-2.4.1".into(),
        generation: None,
    });
    vec![
        line(&Request::Hello { version: 1 }.encode(0x01)),
        line(&Response::encode_ok(0x01, &hello_ok)),
        line(&Request::Begin.encode(0x02)),
        line(&Response::encode_ok(0x02, &Reply::Begin)),
        line(
            &Request::Stage {
                key: Key::MqttPassword,
                offset: 0,
                chunk: Zeroizing::new(cfg.mqtt_password.as_bytes().to_vec()),
            }
            .encode(0x05),
        ),
        line(&Response::encode_ok(
            0x05,
            &Reply::Stage {
                key: Key::MqttPassword,
                staged_len: cfg.mqtt_password.len(),
            },
        )),
        line(
            &Request::Commit {
                digest: config_digest(&cfg),
                hardware_id: "A1B2C3D4E5F60718".into(),
            }
            .encode(0x0E),
        ),
        line(&Response::encode_ok(0x0E, &Reply::Commit { generation: 1 })),
        line(&Response::encode_err(
            0x0E,
            &ErrorReply {
                command_word: "COMMIT".into(),
                code: DeviceErrorCode::DigestMismatch,
                detail: None,
            },
        )),
        line(&Response::encode_err(
            0x0E,
            &ErrorReply {
                command_word: "COMMIT".into(),
                code: DeviceErrorCode::MissingKey,
                detail: Some("api_key".into()),
            },
        )),
        line(
            &Request::Read {
                key: Key::DeviceId,
                offset: 0,
            }
            .encode(0x0F),
        ),
        line(&Response::encode_ok(
            0x0F,
            &Reply::Read {
                key: Key::DeviceId,
                offset: 0,
                total: 9,
                chunk: b"dh-000123".to_vec(),
            },
        )),
        line(&over_long_stage().encode(0x10)),
        line(&Response::encode_err(
            0x10,
            &ErrorReply {
                command_word: "STAGE".into(),
                code: DeviceErrorCode::BadFrame,
                detail: None,
            },
        )),
    ]
}

/// The §8.2 STAGE whose chunk is one escaped byte over the limit: `%` escapes to three bytes.
fn over_long_stage() -> Request {
    Request::Stage {
        key: Key::MqttPassword,
        offset: 0,
        chunk: Zeroizing::new(vec![b'%'; spec::MAX_CHUNK_ENCODED / 3 + 1]),
    }
}

/// The spec's over-long STAGE (§4.4, §8.2) is one byte over the limit, and the device model
/// answers it as the document says, with or without a session.
#[test]
fn spec_over_long_stage_chunk_is_refused_as_shown() {
    let request = line(&over_long_stage().encode(0x10));
    let chunk = request.split(' ').nth(5).expect("chunk word");
    assert_eq!(chunk.len(), spec::MAX_CHUNK_ENCODED + 1);
    let reply = SPEC
        .lines()
        .skip_while(|l| *l != format!("> {request}"))
        .nth(1)
        .and_then(|l| l.strip_prefix("< "))
        .expect("docs/protocol.md shows the over-long STAGE and its reply");
    for begin_first in [false, true] {
        let mut model = DeviceModel::new(MemoryStorage::default(), "A1B2C3D4E5F60718", "fw-2.4.1")
            .expect("model");
        if begin_first {
            model.feed(&Request::Begin.encode(0x02));
        }
        let out = model.feed(&over_long_stage().encode(0x10));
        assert_eq!(line(&out), reply, "session open: {begin_first}");
        assert_eq!(FrameDecoder::new().push_slice(&out).len(), 1);
    }
}

/// Prints every vector; run with `--no-capture` when the spec needs updating.
#[test]
fn print_vectors_for_the_spec() {
    let cfg = test_vector_config();
    println!("crc16(123456789) = {:04X}", crc16(b"123456789"));
    for l in frame_examples() {
        println!("{l}");
    }
    println!(
        "escaped password: {}",
        escape_value(cfg.mqtt_password.as_bytes())
    );
    let enc = canonical_encoding(&cfg);
    println!("encoding ({} bytes):", enc.len());
    for chunk in enc.chunks(32) {
        println!("{}", hex::encode(chunk));
    }
    println!("digest: {}", hex::encode(config_digest(&cfg)));
}

fn spec_hex_block(name: &str) -> String {
    // A fenced block introduced by a line containing `name`; its lines are concatenated.
    let start = SPEC
        .find(name)
        .unwrap_or_else(|| panic!("spec has no {name}"));
    let rest = &SPEC[start..];
    let open = rest.find("```").expect("block start") + 3;
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let close = body.find("```").expect("block end");
    body[..close].split_whitespace().collect()
}

#[test]
fn spec_shows_the_frames_this_crate_encodes() {
    for l in frame_examples() {
        assert!(SPEC.contains(&l), "docs/protocol.md lacks the frame:\n{l}");
    }
}

#[test]
fn spec_canonical_encoding_and_digest_match() {
    let cfg = test_vector_config();
    assert_eq!(
        spec_hex_block("VECTOR-ENCODING"),
        hex::encode(canonical_encoding(&cfg))
    );
    assert_eq!(
        spec_hex_block("VECTOR-DIGEST"),
        hex::encode(config_digest(&cfg))
    );
}

#[test]
fn spec_crc_check_value_matches() {
    assert!(SPEC.contains(&format!("0x{:04X}", crc16(b"123456789"))));
}

/// The frames of §10.1 (BAUD), computed: HELLO offering `BAUD`, the switch to 921600, HELLO at
/// the new rate, and the refusal of a rate the device lacks.
fn baud_frame_examples() -> Vec<String> {
    let hello_ok = Reply::Hello(HelloInfo {
        version: 1,
        capabilities: vec!["CHUNK".into(), "READ".into(), spec::CAP_BAUD.into()],
        hardware_id: "A1B2C3D4E5F60718".into(),
        firmware_version: "fw-2.4.1".into(),
        generation: None,
    });
    let fastest = spec::FAST_BAUD_RATES[0];
    vec![
        line(&Request::Hello { version: 1 }.encode(0x01)),
        line(&Response::encode_ok(0x01, &hello_ok)),
        line(&Request::Baud { rate: fastest }.encode(0x02)),
        line(&Response::encode_ok(0x02, &Reply::Baud { rate: fastest })),
        line(&Request::Hello { version: 1 }.encode(0x03)),
        line(&Response::encode_ok(0x03, &hello_ok)),
        line(&Request::Baud { rate: 2_000_000 }.encode(0x02)),
        line(&Response::encode_err(
            0x02,
            &ErrorReply {
                command_word: "BAUD".into(),
                code: DeviceErrorCode::BadValue,
                detail: None,
            },
        )),
    ]
}

#[test]
fn spec_shows_the_baud_frames_this_crate_encodes() {
    for l in baud_frame_examples() {
        assert!(
            SPEC.contains(&l),
            "docs/protocol.md §10.1 lacks the frame:\n{l}"
        );
    }
}

/// The §10.1 exchange, request by request, answered by the device model exactly as the document
/// shows it (same bytes), including the switch it hands to its host.
#[test]
fn spec_baud_exchange_is_what_the_device_model_answers() {
    let section = &SPEC[SPEC.find("### 10.1").expect("§10.1")..];
    let shown: Vec<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("### 10.2"))
        .filter_map(|l| l.strip_prefix("> ").or_else(|| l.strip_prefix("< ")))
        .collect();
    let bad_rate = section
        .lines()
        .find(|l| l.starts_with("A rate the device lacks"))
        .expect("the BAD_VALUE example");
    // The §10.1 example's unit offers BAUD only (its HELLO lists no PROVE).
    let mut model = DeviceModel::new(MemoryStorage::default(), "A1B2C3D4E5F60718", "fw-2.4.1")
        .expect("model")
        .with_prove(false);
    assert_eq!(shown.len(), 6, "{shown:?}");
    for pair in shown.chunks(2) {
        let out = model.feed(format!("{}\r\n", pair[0]).as_bytes());
        assert_eq!(line(&out), pair[1], "answer to {}", pair[0]);
    }
    assert_eq!(model.baud_rate(), spec::FAST_BAUD_RATES[0]);
    let words: Vec<&str> = bad_rate.split('`').collect();
    let request = words[1].trim_start_matches("> ");
    let reply = words[3].trim_start_matches("< ");
    let out = model.feed(format!("{request}\r\n").as_bytes());
    assert_eq!(line(&out), reply);
    assert_eq!(
        model.baud_rate(),
        spec::FAST_BAUD_RATES[0],
        "a refused rate changes nothing"
    );
}
