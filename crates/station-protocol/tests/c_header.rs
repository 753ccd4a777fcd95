//! The C module's copy of the protocol (`firmware/include/dh_spec.h`, the API header
//! `dh_device.h`, and the name tables in `firmware/src/dh_device.c`) checked against this crate's
//! tables, both ways.
//!
//! Every constant the C headers define must be named in [`expected`] with the Rust value it
//! stands for, or in [`C_ONLY`] as part of the C API; every `pub const` of `src/spec.rs` must have
//! a C counterpart there or be in [`STATION_ONLY`] with the reason the device does not need it.
//! So a constant added on one side only fails, and so does a value that differs; each message
//! names the constant, where it is defined and the Rust expression it was compared with. When
//! they differ, `docs/protocol.md` decides which side is wrong.

#[path = "support/c_source.rs"]
mod c_source;

use std::collections::BTreeSet;

use c_source::{array_rows, CConstants, CValue};
use station_protocol::codec::{Frame, FrameDecoder};
use station_protocol::command::ValueKind;
use station_protocol::message::Request;
use station_protocol::{spec, Key};

const SPEC_H: &str = include_str!("../../../firmware/include/dh_spec.h");
const DEVICE_H: &str = include_str!("../../../firmware/include/dh_device.h");
const DEVICE_C: &str = include_str!("../../../firmware/src/dh_device.c");
const SPEC_RS: &str = include_str!("../src/spec.rs");

const SPEC_H_NAME: &str = "firmware/include/dh_spec.h";
const DEVICE_H_NAME: &str = "firmware/include/dh_device.h";
const DEVICE_C_NAME: &str = "firmware/src/dh_device.c";

/// Constants of `dh_device.h` that belong to the C API, not to the protocol.
const C_ONLY: &[&str] = &[
    "DH_LIB_VERSION",
    "DH_STACK_BUDGET",
    "DH_STORE_OK",
    "DH_STORE_FULL",
    "DH_STORE_FAILED",
    "DH_INIT_OK",
    "DH_INIT_BAD_FIRMWARE_VERSION",
    "DH_INIT_BAD_HARDWARE_ID",
    "DH_INIT_BAD_CAPACITY",
    "DH_INIT_BAD_BAUD",
    "DH_MAX_BAUD_RATES",
    "DH_RX_FRAME_LEN",
];

/// Constants of `spec.rs` a device does not need, and why.
const STATION_ONLY: &[(&str, &str)] = &[
    (
        "TIMEOUT_HELLO",
        "the station's wait; a device answers as soon as it can",
    ),
    ("TIMEOUT_BEGIN", "the station's wait"),
    ("TIMEOUT_STAGE", "the station's wait"),
    ("TIMEOUT_COMMIT", "the station's wait"),
    ("TIMEOUT_ABORT", "the station's wait"),
    ("TIMEOUT_READ", "the station's wait"),
    (
        "MAX_ATTEMPTS",
        "the station retransmits; a device replays its cache",
    ),
    ("HELLO_ATTEMPTS", "the station retransmits"),
    ("MAX_BUSY_REPLIES", "the station's patience with BUSY"),
    ("BUSY_BACKOFF_START", "the station's backoff"),
    ("BUSY_BACKOFF_MAX", "the station's backoff"),
    (
        "BAUD_SETTLE",
        "the station's pause after switching its own side",
    ),
    (
        "FAST_BAUD_RATES",
        "the station's wish list; a device lists what its UART can run (struct dh_baud_port)",
    ),
    ("HELLO_ATTEMPTS_AFTER_BAUD", "the station retransmits"),
    (
        "BAUD_REVERT_MARGIN",
        "the station's allowance for a device that checks its revert timer late",
    ),
    ("BITS_PER_BYTE", "the station's wire-time estimate"),
    (
        "PROOF_VERIFIERS",
        "how many one-time verifiers the station keeps per password (spec §10.3)",
    ),
    (
        "MAX_CAPABILITIES_LEN",
        "what the station accepts; DH_CAPABILITIES is checked to fit it",
    ),
];

/// One C constant and the Rust value it must equal.
struct Expect {
    c_name: String,
    value: CValue,
    rust: String,
}

fn n(v: impl TryInto<i64>) -> CValue {
    CValue::Int(v.try_into().unwrap_or(i64::MIN))
}

fn s(v: &[u8]) -> CValue {
    CValue::Str(String::from_utf8_lossy(v).into_owned())
}

fn single_byte(token: &str) -> CValue {
    match token.as_bytes() {
        [b] => n(*b),
        _ => s(token.as_bytes()),
    }
}

fn decimal_range(key: Key) -> (u32, u32) {
    match key.kind() {
        ValueKind::Decimal { min, max } => (min, max),
        other => panic!("{key} is {other:?}, not a decimal"),
    }
}

/// Every constant the C headers must define, with its value from the Rust tables.
fn expected() -> Vec<Expect> {
    let e = |c_name: &str, value: CValue, rust: &str| Expect {
        c_name: c_name.to_owned(),
        value,
        rust: rust.to_owned(),
    };
    let (port_min, port_max) = decimal_range(Key::BrokerPort);
    let mut out = vec![
        e(
            "DH_PROTOCOL_VERSION",
            n(spec::PROTOCOL_VERSION),
            "spec::PROTOCOL_VERSION",
        ),
        e("DH_MARKER", s(spec::MARKER), "spec::MARKER"),
        e("DH_MARKER_LEN", n(spec::MARKER.len()), "spec::MARKER.len()"),
        e("DH_FRAME_START", n(spec::FRAME_START), "spec::FRAME_START"),
        e(
            "DH_MAX_FRAME_LEN",
            n(spec::MAX_FRAME_LEN),
            "spec::MAX_FRAME_LEN",
        ),
        e(
            "DH_MAX_LINE_LEN",
            n(spec::MAX_FRAME_LEN - b"\r\n".len()),
            "spec::MAX_FRAME_LEN without \"\\r\\n\"",
        ),
        e(
            "DH_MAX_ECHO_BYTES",
            n(spec::MAX_ECHO_BYTES),
            "spec::MAX_ECHO_BYTES",
        ),
        e(
            "DH_CRC_TRAILER_LEN",
            n(spec::CRC_SEPARATOR.len() + spec::CRC_HEX_LEN),
            "spec::CRC_SEPARATOR.len() + spec::CRC_HEX_LEN",
        ),
        e(
            "DH_MAX_CHUNK_ENCODED",
            n(spec::MAX_CHUNK_ENCODED),
            "spec::MAX_CHUNK_ENCODED",
        ),
        e("DH_MAX_OFFSET", n(spec::MAX_OFFSET), "spec::MAX_OFFSET"),
        e(
            "DH_SEQ_UNSOLICITED",
            n(spec::SEQ_UNSOLICITED),
            "spec::SEQ_UNSOLICITED",
        ),
        e(
            "DH_EMPTY_TOKEN",
            single_byte(spec::EMPTY_TOKEN),
            "spec::EMPTY_TOKEN",
        ),
        e(
            "DH_NONE_TOKEN",
            single_byte(spec::NONE_TOKEN),
            "spec::NONE_TOKEN",
        ),
        e(
            "DH_STATUS_OK",
            s(spec::STATUS_OK.as_bytes()),
            "spec::STATUS_OK",
        ),
        e(
            "DH_STATUS_ERR",
            s(spec::STATUS_ERR.as_bytes()),
            "spec::STATUS_ERR",
        ),
        e(
            "DH_CAPABILITIES",
            s(spec::CAPABILITIES_V1.join(",").as_bytes()),
            "spec::CAPABILITIES_V1 joined with ','",
        ),
        e(
            "DH_CAP_BAUD",
            s(spec::CAP_BAUD.as_bytes()),
            "spec::CAP_BAUD",
        ),
        e("DH_BAUD_DEFAULT", n(spec::BAUD_RATE), "spec::BAUD_RATE"),
        e(
            "DH_BAUD_IDLE_REVERT_MS",
            n(spec::BAUD_IDLE_REVERT.as_millis()),
            "spec::BAUD_IDLE_REVERT in ms",
        ),
        e(
            "DH_TIMEOUT_BAUD_MS",
            n(spec::TIMEOUT_BAUD.as_millis()),
            "spec::TIMEOUT_BAUD in ms",
        ),
        e(
            "DH_BAUD_ATTEMPTS",
            n(spec::BAUD_ATTEMPTS),
            "spec::BAUD_ATTEMPTS",
        ),
        e(
            "DH_CAP_PROVE",
            s(spec::CAP_PROVE.as_bytes()),
            "spec::CAP_PROVE",
        ),
        e(
            "DH_CAP_GATE",
            s(spec::CAP_GATE.as_bytes()),
            "spec::CAP_GATE",
        ),
        e(
            "DH_CAP_FRAME_PREFIX",
            s(spec::CAP_FRAME_PREFIX.as_bytes()),
            "spec::CAP_FRAME_PREFIX",
        ),
        e(
            "DH_MIN_FRAME_LIMIT",
            n(spec::MIN_FRAME_LIMIT),
            "spec::MIN_FRAME_LIMIT",
        ),
        e(
            "DH_TIMEOUT_PROVE_MS",
            n(spec::TIMEOUT_PROVE.as_millis()),
            "spec::TIMEOUT_PROVE in ms",
        ),
        e(
            "DH_PROVE_NONCE_HEX",
            n(spec::PROVE_NONCE_HEX),
            "spec::PROVE_NONCE_HEX",
        ),
        e(
            "DH_PROVE_MAC_HEX",
            n(spec::PROVE_MAC_HEX),
            "spec::PROVE_MAC_HEX",
        ),
        e(
            "DH_PROOF_MESSAGE_PREFIX",
            s(spec::PROOF_MESSAGE_PREFIX.as_bytes()),
            "spec::PROOF_MESSAGE_PREFIX",
        ),
        e(
            "DH_MAX_HWID_BYTES",
            n(spec::MAX_HARDWARE_ID_HEX / 2),
            "spec::MAX_HARDWARE_ID_HEX / 2",
        ),
        e(
            "DH_MAX_FW_VERSION_LEN",
            n(spec::MAX_FIRMWARE_VERSION_LEN),
            "spec::MAX_FIRMWARE_VERSION_LEN",
        ),
        e(
            "DH_CANONICAL_MAGIC",
            s(spec::CANONICAL_MAGIC),
            "spec::CANONICAL_MAGIC",
        ),
        e(
            "DH_MAGIC_LEN",
            n(spec::CANONICAL_MAGIC.len()),
            "spec::CANONICAL_MAGIC.len()",
        ),
        e(
            "DH_KEY_HEADER_LEN",
            n(spec::KEY_HEADER_LEN),
            "spec::KEY_HEADER_LEN",
        ),
        e("DH_DIGEST_LEN", n(spec::DIGEST_LEN), "spec::DIGEST_LEN"),
        e("DH_KEY_COUNT", n(spec::KEYS.len()), "spec::KEYS.len()"),
        e(
            "DH_MAX_DEVICE_ID_LEN",
            n(spec::MAX_DEVICE_ID_LEN),
            "spec::MAX_DEVICE_ID_LEN",
        ),
        e(
            "DH_MAX_CREDENTIAL_LEN",
            n(spec::MAX_CREDENTIAL_LEN),
            "spec::MAX_CREDENTIAL_LEN",
        ),
        e(
            "DH_MAX_BROKER_HOST_LEN",
            n(spec::MAX_BROKER_HOST_LEN),
            "spec::MAX_BROKER_HOST_LEN",
        ),
        e(
            "DH_MAX_BROKER_PORT_LEN",
            n(Key::BrokerPort.max_len()),
            "spec::KEYS[broker_port].max_len",
        ),
        e(
            "DH_MAX_BROKER_TLS_LEN",
            n(Key::BrokerTls.max_len()),
            "spec::KEYS[broker_tls].max_len",
        ),
        e(
            "DH_MAX_TOPIC_LEN",
            n(spec::MAX_TOPIC_LEN),
            "spec::MAX_TOPIC_LEN",
        ),
        e(
            "DH_MAX_GENERATION_LEN",
            n(Key::Generation.max_len()),
            "spec::KEYS[generation].max_len",
        ),
        e(
            "DH_MIN_BROKER_PORT",
            n(port_min),
            "Key::BrokerPort.kind() (min)",
        ),
        e(
            "DH_MAX_BROKER_PORT",
            n(port_max),
            "Key::BrokerPort.kind() (max)",
        ),
        e(
            "DH_MAX_VALUES_LEN",
            n(spec::MAX_VALUES_LEN),
            "spec::MAX_VALUES_LEN",
        ),
        e(
            "DH_BLOB_OVERHEAD",
            n(spec::MAX_BLOB_LEN - spec::MAX_VALUES_LEN),
            "spec::MAX_BLOB_LEN - spec::MAX_VALUES_LEN",
        ),
        e(
            "DH_MAX_BLOB_LEN",
            n(spec::MAX_BLOB_LEN),
            "spec::MAX_BLOB_LEN",
        ),
        e(
            "DH_COMMAND_COUNT",
            n(spec::COMMANDS.len()),
            "spec::COMMANDS.len()",
        ),
        e(
            "DH_ERROR_CODE_COUNT",
            n(spec::ERROR_CODES.len()),
            "spec::ERROR_CODES.len()",
        ),
    ];
    for k in &spec::KEYS {
        let c_name = format!("DH_KEY_{}", k.name.to_ascii_uppercase());
        out.push(e(&c_name, n(k.id), &format!("spec::KEYS[{}].id", k.name)));
    }
    for c in &spec::COMMANDS {
        let c_name = format!("DH_CMD_{}", c.name);
        out.push(e(
            &c_name,
            n(c.id),
            &format!("spec::COMMANDS[{}].id", c.name),
        ));
    }
    for (name, number) in &spec::ERROR_CODES {
        let c_name = format!("DH_ERR_{name}");
        out.push(e(
            &c_name,
            n(*number),
            &format!("spec::ERROR_CODES[{name}]"),
        ));
    }
    out
}

fn read_headers(spec_h: &str, device_h: &str) -> CConstants {
    let mut c = CConstants::default();
    c.read(SPEC_H_NAME, spec_h);
    c.read(DEVICE_H_NAME, device_h);
    c
}

/// Every difference between the headers and the Rust tables, one message each.
fn header_mismatches(spec_h: &str, device_h: &str) -> Vec<String> {
    let c = read_headers(spec_h, device_h);
    let expected = expected();
    let mut problems = Vec::new();
    for x in &expected {
        if !c.consts.contains_key(&x.c_name) {
            problems.push(format!(
                "{} is missing from {SPEC_H_NAME}: the Rust side has it as {} = {}",
                x.c_name, x.rust, x.value
            ));
            continue;
        }
        match c.value(&x.c_name) {
            Ok(v) if v == x.value => {}
            Ok(v) => problems.push(format!(
                "{} ({}) is {v}, but {} is {}: docs/protocol.md decides which side is wrong",
                x.c_name,
                c.place(&x.c_name),
                x.rust,
                x.value
            )),
            Err(err) => problems.push(err),
        }
    }
    let known: BTreeSet<&str> = expected.iter().map(|x| x.c_name.as_str()).collect();
    for (file, name) in &c.order {
        if !known.contains(name.as_str()) && !C_ONLY.contains(&name.as_str()) {
            problems.push(format!(
                "{name} ({}) has no counterpart in the Rust tables: add it to \
                 crates/station-protocol/src/spec.rs and to this test's table (or, in {file}, \
                 to C_ONLY if it is C API and not protocol)",
                c.place(name)
            ));
        }
    }
    problems
}

/// The `pub const` names of spec.rs.
fn spec_rs_constants(src: &str) -> Vec<String> {
    src.lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub const "))
        .filter_map(|rest| rest.split(':').next())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Every constant of spec.rs that neither the C table names nor STATION_ONLY explains.
fn spec_rs_uncovered(spec_rs: &str) -> Vec<String> {
    let mut covered: BTreeSet<String> = STATION_ONLY.iter().map(|(n, _)| (*n).to_owned()).collect();
    for x in expected() {
        for part in x.rust.split("spec::").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            covered.insert(name);
        }
    }
    let declared = spec_rs_constants(spec_rs);
    let mut problems: Vec<String> = declared
        .iter()
        .filter(|name| !covered.contains(*name))
        .map(|name| {
            format!(
                "spec::{name} has no counterpart in {SPEC_H_NAME}: add it there and to this \
                 test's table, or to STATION_ONLY with the reason a device does not need it"
            )
        })
        .collect();
    for (name, _) in STATION_ONLY {
        if !declared.iter().any(|d| d == name) {
            problems.push(format!(
                "STATION_ONLY names spec::{name}, which spec.rs no longer defines"
            ));
        }
    }
    problems
}

#[test]
fn c_header_constants_equal_the_rust_spec_tables() {
    let problems = header_mismatches(SPEC_H, DEVICE_H);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_spec_rs_constant_is_in_the_c_header_or_station_only() {
    let problems = spec_rs_uncovered(SPEC_RS);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn c_capabilities_fit_what_the_station_accepts() {
    let c = read_headers(SPEC_H, DEVICE_H);
    let CValue::Str(base) = c.value("DH_CAPABILITIES").expect("DH_CAPABILITIES") else {
        panic!("DH_CAPABILITIES is not a string");
    };
    let CValue::Str(baud) = c.value("DH_CAP_BAUD").expect("DH_CAP_BAUD") else {
        panic!("DH_CAP_BAUD is not a string");
    };
    let CValue::Str(prove) = c.value("DH_CAP_PROVE").expect("DH_CAP_PROVE") else {
        panic!("DH_CAP_PROVE is not a string");
    };
    let CValue::Str(gate) = c.value("DH_CAP_GATE").expect("DH_CAP_GATE") else {
        panic!("DH_CAP_GATE is not a string");
    };
    let CValue::Str(frame) = c.value("DH_CAP_FRAME_PREFIX").expect("DH_CAP_FRAME_PREFIX") else {
        panic!("DH_CAP_FRAME_PREFIX is not a string");
    };
    // The longest field the C module sends: a port with the rate switch, proofs and the write
    // gate, built with a small receive buffer, appends ",BAUD,PROVE,GATE,FRAME199".
    let frame = format!("{frame}{}", spec::MAX_FRAME_LEN - 1);
    let caps = format!("{base},{baud},{prove},{gate},{frame}");
    assert!(
        caps.len() <= spec::MAX_CAPABILITIES_LEN,
        "DH_CAPABILITIES ({}) with \",{baud},{prove},{gate},{frame}\" is {} bytes, over spec::MAX_CAPABILITIES_LEN = {}",
        c.place("DH_CAPABILITIES"),
        caps.len(),
        spec::MAX_CAPABILITIES_LEN
    );
}

/// The kind names of dh_device.c's key table, as the Rust model's value kinds.
fn c_kind(name: &str) -> Option<ValueKind> {
    let (port_min, port_max) = decimal_range(Key::BrokerPort);
    let (gen_min, gen_max) = decimal_range(Key::Generation);
    Some(match name {
        "KIND_IDENT" => ValueKind::Identifier,
        "KIND_HOST" => ValueKind::Host,
        "KIND_TEXT" => ValueKind::Text,
        "KIND_PORT" => ValueKind::Decimal {
            min: port_min,
            max: port_max,
        },
        "KIND_GENERATION" => ValueKind::Decimal {
            min: gen_min,
            max: gen_max,
        },
        "KIND_FLAG" => ValueKind::Flag,
        _ => return None,
    })
}

fn unquote(cell: &str) -> &str {
    cell.trim().trim_matches('"')
}

/// dh_device.c's `KEYS` rows against spec::KEYS and each key's value kind.
fn c_key_table_mismatches(device_c: &str, c: &CConstants) -> Vec<String> {
    let (line, rows) = array_rows(device_c, "KEYS").expect("KEYS table in dh_device.c");
    let mut problems = Vec::new();
    if rows.len() != spec::KEYS.len() {
        problems.push(format!(
            "{DEVICE_C_NAME}:{line}: KEYS has {} rows, spec::KEYS has {}",
            rows.len(),
            spec::KEYS.len()
        ));
    }
    for (row, (k, key)) in rows.iter().zip(spec::KEYS.iter().zip(Key::ALL)) {
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        let [name, min, max, kind, secret] = cells[..] else {
            problems.push(format!(
                "{DEVICE_C_NAME}:{line}: KEYS row `{row}` has not 5 cells"
            ));
            continue;
        };
        let got = (
            unquote(name).to_owned(),
            c.eval(min).ok(),
            c.eval(max).ok(),
            c_kind(kind),
            c.eval(secret).ok(),
        );
        let want = (
            k.name.to_owned(),
            Some(n(k.min_len)),
            Some(n(k.max_len)),
            Some(key.kind()),
            Some(n(u8::from(k.secret))),
        );
        if got != want {
            problems.push(format!(
                "{DEVICE_C_NAME}:{line}: KEYS row for `{}` is {got:?} (name, min_len, max_len, \
                 kind, secret), but spec::KEYS and Key::{key:?}.kind() say {want:?}",
                k.name
            ));
        }
    }
    let min_values: usize = spec::KEYS.iter().map(|k| k.min_len).sum();
    match c.int("MIN_VALUES_LEN") {
        Ok(v) if n(min_values) == CValue::Int(v) => {}
        other => problems.push(format!(
            "MIN_VALUES_LEN ({}) is {other:?}, but the spec::KEYS min_len add up to {min_values}",
            c.place("MIN_VALUES_LEN")
        )),
    }
    problems
}

/// A name table of dh_device.c against the Rust names, in number order.
fn c_name_table_mismatches(device_c: &str, table: &str, rust: &[&str]) -> Vec<String> {
    let (line, rows) = array_rows(device_c, table).expect("name table in dh_device.c");
    let got: Vec<&str> = rows.iter().map(|r| unquote(r)).collect();
    if got == rust {
        Vec::new()
    } else {
        vec![format!(
            "{DEVICE_C_NAME}:{line}: {table} is {got:?}, but the Rust table says {rust:?} \
             (entry i is number i + 1)"
        )]
    }
}

#[test]
fn c_device_name_tables_equal_the_rust_key_command_and_error_tables() {
    let mut c = read_headers(SPEC_H, DEVICE_H);
    c.read(DEVICE_C_NAME, DEVICE_C);
    let mut problems = c_key_table_mismatches(DEVICE_C, &c);
    let commands: Vec<&str> = spec::COMMANDS.iter().map(|c| c.name).collect();
    problems.extend(c_name_table_mismatches(DEVICE_C, "COMMANDS", &commands));
    let errors: Vec<&str> = spec::ERROR_CODES.iter().map(|(name, _)| *name).collect();
    problems.extend(c_name_table_mismatches(DEVICE_C, "ERRORS", &errors));
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---- The checks themselves can fail, and say where. --------------------------------------

#[test]
fn a_changed_header_value_is_reported_with_its_name_and_line() {
    let changed = SPEC_H.replace(
        "#define DH_MAX_FRAME_LEN 200u",
        "#define DH_MAX_FRAME_LEN 201u",
    );
    assert_ne!(
        changed, SPEC_H,
        "the header no longer says DH_MAX_FRAME_LEN 200u"
    );
    let problems = header_mismatches(&changed, DEVICE_H);
    let joined = problems.join("\n");
    assert!(
        joined.contains("DH_MAX_FRAME_LEN (firmware/include/dh_spec.h:")
            && joined.contains("is 201, but spec::MAX_FRAME_LEN is 200"),
        "{joined}"
    );
    // The derived line length follows, and is reported too.
    assert!(joined.contains("DH_MAX_LINE_LEN"), "{joined}");
}

#[test]
fn a_constant_missing_on_either_side_is_reported() {
    let without = SPEC_H.replace("#define DH_MAX_ECHO_BYTES 16u", "");
    let joined = header_mismatches(&without, DEVICE_H).join("\n");
    assert!(
        joined.contains("DH_MAX_ECHO_BYTES is missing from firmware/include/dh_spec.h"),
        "{joined}"
    );

    let extra = SPEC_H.replace(
        "enum dh_error_code {",
        "enum dh_error_code {\n    DH_ERR_OUT_OF_PAPER = 16,",
    );
    let joined = header_mismatches(&extra, DEVICE_H).join("\n");
    assert!(
        joined.contains("DH_ERR_OUT_OF_PAPER (firmware/include/dh_spec.h:")
            && joined.contains("has no counterpart in the Rust tables"),
        "{joined}"
    );

    let new_rust = format!("{SPEC_RS}\npub const MAX_NEW_THING: usize = 3;\n");
    let joined = spec_rs_uncovered(&new_rust).join("\n");
    assert!(
        joined.contains("spec::MAX_NEW_THING has no counterpart"),
        "{joined}"
    );
}

#[test]
fn a_reordered_c_name_table_is_reported() {
    let swapped = DEVICE_C.replace("\"COMMIT\", \"ABORT\"", "\"ABORT\", \"COMMIT\"");
    assert_ne!(
        swapped, DEVICE_C,
        "dh_device.c's COMMANDS table changed shape"
    );
    let commands: Vec<&str> = spec::COMMANDS.iter().map(|c| c.name).collect();
    let problems = c_name_table_mismatches(&swapped, "COMMANDS", &commands);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("firmware/src/dh_device.c:"),
        "{problems:?}"
    );
}

/// Spec §4.4 limits offsets to 0..999. The Rust parser wrote `999` inline while the C header
/// named it `DH_MAX_OFFSET`, so nothing tied the two: the limit is now `spec::MAX_OFFSET`, the
/// header's copy is checked above, and the parser keeps to it at the edge.
#[test]
fn stage_offset_limit_is_spec_max_offset() {
    let stage = |offset: usize| {
        let offset = offset.to_string();
        let bytes = Frame::encode(1, &["STAGE", "device_id", &offset, "x"]);
        let frames = FrameDecoder::new().push_slice(&bytes);
        Request::parse(&frames[0]).is_ok()
    };
    assert!(
        stage(spec::MAX_OFFSET),
        "offset {} is allowed",
        spec::MAX_OFFSET
    );
    assert!(
        !stage(spec::MAX_OFFSET + 1),
        "offset {} is refused",
        spec::MAX_OFFSET + 1
    );
    let c = read_headers(SPEC_H, DEVICE_H);
    assert_eq!(c.value("DH_MAX_OFFSET"), Ok(n(spec::MAX_OFFSET)));
}

/// Version 1.1's BAUD (spec §10.1) is held to the Rust side like the rest: a wrong idle
/// revert, a command count that forgets BAUD, or a BAUD constant only C knows are reported.
#[test]
fn a_wrong_or_one_sided_baud_constant_is_reported() {
    let wrong = SPEC_H.replace(
        "#define DH_BAUD_IDLE_REVERT_MS 1000u",
        "#define DH_BAUD_IDLE_REVERT_MS 500u",
    );
    assert_ne!(
        wrong, SPEC_H,
        "dh_spec.h no longer says DH_BAUD_IDLE_REVERT_MS 1000u"
    );
    let joined = header_mismatches(&wrong, DEVICE_H).join("\n");
    assert!(
        joined.contains("DH_BAUD_IDLE_REVERT_MS (firmware/include/dh_spec.h:")
            && joined.contains("is 500, but spec::BAUD_IDLE_REVERT in ms is 1000"),
        "{joined}"
    );
    let miscounted = SPEC_H.replace("#define DH_COMMAND_COUNT 8u", "#define DH_COMMAND_COUNT 7u");
    assert_ne!(
        miscounted, SPEC_H,
        "dh_spec.h no longer says DH_COMMAND_COUNT 8u"
    );
    let joined = header_mismatches(&miscounted, DEVICE_H).join("\n");
    assert!(joined.contains("DH_COMMAND_COUNT"), "{joined}");
    let extra = SPEC_H.replace(
        "#define DH_BAUD_ATTEMPTS 1u",
        "#define DH_BAUD_ATTEMPTS 1u\n#define DH_BAUD_MAX_RATE 2000000UL",
    );
    let joined = header_mismatches(&extra, DEVICE_H).join("\n");
    assert!(
        joined.contains("DH_BAUD_MAX_RATE (firmware/include/dh_spec.h:")
            && joined.contains("has no counterpart in the Rust tables"),
        "{joined}"
    );
}
