//! The AVR example firmware (`firmware/avr/main.c`) against the Rust side: its storage image is
//! the layout [`station_protocol::slot_image`] reads, its slots fit the stored form the spec
//! allows, and what it hard-codes (hardware id, firmware version, UART speed) keeps to the spec.
//!
//! main.c is read as text (its struct, defines and initialisers) and the build flags come from
//! `firmware/Makefile`, so a change to either side alone fails here, with the field or constant
//! and its line in the message.

#[path = "support/c_source.rs"]
mod c_source;

use c_source::{array_rows, strip_comments, CConstants, CValue};
use station_protocol::config::test_vector_config;
use station_protocol::message::is_firmware_version;
use station_protocol::{slot_image, spec, StoredConfig};

const MAIN_C: &str = include_str!("../../../firmware/avr/main.c");
const MAKEFILE: &str = include_str!("../../../firmware/Makefile");
const SPEC_H: &str = include_str!("../../../firmware/include/dh_spec.h");
const DEVICE_H: &str = include_str!("../../../firmware/include/dh_device.h");
const MAIN_C_NAME: &str = "firmware/avr/main.c";

fn constants() -> CConstants {
    let mut c = CConstants::default();
    c.read("firmware/include/dh_spec.h", SPEC_H);
    c.read("firmware/include/dh_device.h", DEVICE_H);
    c.read(MAIN_C_NAME, MAIN_C);
    c
}

fn usize_of(c: &CConstants, name: &str) -> usize {
    let v = c.int(name).unwrap_or_else(|e| panic!("{e}"));
    usize::try_from(v).unwrap_or_else(|e| panic!("{name} = {v}: {e}"))
}

/// One field of a C struct as AVR lays it out (avr-gcc aligns everything to 1 byte).
#[derive(Debug, PartialEq, Eq)]
struct Field {
    name: String,
    offset: usize,
    /// Size of one element.
    elem: usize,
    /// Elements, all dimensions multiplied.
    count: usize,
    line: usize,
}

/// The fields of `struct <tag> { ... };` in `src`, with AVR offsets.
fn struct_fields(src: &str, tag: &str, c: &CConstants) -> Vec<Field> {
    let clean = strip_comments(src);
    let start = clean
        .find(&format!("struct {tag} {{"))
        .unwrap_or_else(|| panic!("{MAIN_C_NAME} has no struct {tag}"));
    let body_start = start + clean[start..].find('{').unwrap_or(0) + 1;
    let body_end = body_start + clean[body_start..].find('}').unwrap_or(0);
    let mut offset = 0;
    let mut fields = Vec::new();
    for decl in clean[body_start..body_end].split(';') {
        let decl = decl.trim();
        if decl.is_empty() {
            continue;
        }
        let (ty, rest) = decl.split_once(' ').unwrap_or((decl, ""));
        let elem = match ty {
            "uint8_t" | "int8_t" | "char" => 1,
            "uint16_t" | "int16_t" => 2,
            "uint32_t" | "int32_t" => 4,
            other => panic!("{MAIN_C_NAME}: struct {tag} field type {other} is not read"),
        };
        let mut parts = rest.split('[');
        let name = parts.next().unwrap_or("").trim().to_owned();
        let count = parts
            .map(|dim| {
                let dim = dim.trim_end().trim_end_matches(']');
                match c.eval(dim) {
                    Ok(CValue::Int(v)) => usize::try_from(v).unwrap_or(0),
                    other => panic!("{MAIN_C_NAME}: dimension `{dim}` of {name}: {other:?}"),
                }
            })
            .product::<usize>();
        fields.push(Field {
            name,
            offset,
            elem,
            count,
            line: line_of(&clean, body_start, decl),
        });
        offset += elem * count;
    }
    fields
}

fn line_of(clean: &str, from: usize, decl: &str) -> usize {
    let at = clean[from..].find(decl).map_or(from, |i| from + i);
    clean[..at].matches('\n').count() + 1
}

#[test]
fn avr_storage_image_is_the_layout_slot_image_reads() {
    let c = constants();
    let slot_bytes = usize_of(&c, "NV_SLOT_BYTES");
    let fields = struct_fields(MAIN_C, "nv", &c);
    let want = [
        ("magic", 0, 1, slot_image::MAGIC.len()),
        ("active", slot_image::ACTIVE_OFFSET, 1, 1),
        (
            "len",
            slot_image::LEN_OFFSET,
            slot_image::LEN_BYTES,
            slot_image::SLOTS,
        ),
        (
            "slot",
            slot_image::HEADER_LEN,
            1,
            slot_image::SLOTS * slot_bytes,
        ),
    ];
    let mut problems = Vec::new();
    for (name, offset, elem, count) in want {
        match fields.iter().find(|f| f.name == name) {
            None => problems.push(format!("struct nv has no field `{name}`")),
            Some(f) if (f.offset, f.elem, f.count) != (offset, elem, count) => {
                problems.push(format!(
                    "{MAIN_C_NAME}:{}: field `{name}` is at offset {} with {} x {} bytes, but \
                     slot_image says offset {offset} with {count} x {elem} bytes",
                    f.line, f.offset, f.count, f.elem
                ))
            }
            Some(_) => {}
        }
    }
    let size: usize = fields.iter().map(|f| f.elem * f.count).sum();
    if size != slot_image::image_len(slot_bytes) {
        problems.push(format!(
            "struct nv is {size} bytes, but slot_image::image_len({slot_bytes}) is {}",
            slot_image::image_len(slot_bytes)
        ));
    }
    match c.value("NV_MAGIC") {
        Ok(CValue::Str(m)) if m.as_bytes() == slot_image::MAGIC => {}
        other => problems.push(format!(
            "NV_MAGIC ({}) is {other:?}, but slot_image::MAGIC is {:?}",
            c.place("NV_MAGIC"),
            String::from_utf8_lossy(slot_image::MAGIC)
        )),
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn avr_slots_hold_a_station_config_and_no_more_than_the_spec_allows() {
    let c = constants();
    let slot_bytes = usize_of(&c, "NV_SLOT_BYTES");
    let place = c.place("NV_SLOT_BYTES");
    // dh_init() refuses a capacity above DH_MAX_BLOB_LEN, or one that cannot hold the
    // smallest config (every key at its min_len).
    assert!(
        slot_bytes <= spec::MAX_BLOB_LEN,
        "NV_SLOT_BYTES ({place}) = {slot_bytes} is over spec::MAX_BLOB_LEN = {}",
        spec::MAX_BLOB_LEN
    );
    let smallest = spec::MAX_BLOB_LEN - spec::MAX_VALUES_LEN
        + spec::KEYS.iter().map(|k| k.min_len).sum::<usize>();
    assert!(
        slot_bytes >= smallest,
        "NV_SLOT_BYTES ({place}) = {slot_bytes} cannot hold the smallest blob ({smallest} bytes)"
    );
    let blob = StoredConfig::from_config(&test_vector_config()).to_blob();
    assert!(
        blob.len() <= slot_bytes,
        "the spec's example config is a {}-byte blob, over NV_SLOT_BYTES ({place}) = {slot_bytes}",
        blob.len()
    );
}

#[test]
fn a_blob_in_an_avr_image_reads_back_through_slot_image() {
    let c = constants();
    let slot_bytes = usize_of(&c, "NV_SLOT_BYTES");
    let blob = StoredConfig::from_config(&test_vector_config()).to_blob();
    let mut image = vec![0u8; slot_image::image_len(slot_bytes)];
    image[..4].copy_from_slice(slot_image::MAGIC);
    image[slot_image::ACTIVE_OFFSET] = 1;
    let len = u16::try_from(blob.len()).expect("blob fits u16");
    let at = slot_image::LEN_OFFSET + slot_image::LEN_BYTES;
    image[at..at + 2].copy_from_slice(&len.to_le_bytes());
    let start = slot_image::HEADER_LEN + slot_bytes;
    image[start..start + blob.len()].copy_from_slice(&blob);
    let read = slot_image::committed_blob(&image).expect("a committed blob");
    let stored = StoredConfig::from_blob(read).expect("the stored form");
    assert_eq!(*stored.to_blob(), *blob);
}

#[test]
fn avr_hardware_id_and_firmware_version_keep_to_the_spec() {
    let c = constants();
    let (line, hwid) = array_rows(MAIN_C, "HWID").expect("HWID in main.c");
    assert!(
        (1..=spec::MAX_HARDWARE_ID_HEX / 2).contains(&hwid.len()),
        "{MAIN_C_NAME}:{line}: HWID has {} bytes; the spec allows 1..={}",
        hwid.len(),
        spec::MAX_HARDWARE_ID_HEX / 2
    );
    // FW_VERSION is adjacent string literals and constants: "avr328p-" DH_LIB_VERSION.
    let text = &c.consts["FW_VERSION"].text;
    let version: String = text
        .split_whitespace()
        .map(|part| match c.eval(part) {
            Ok(CValue::Str(s)) => s,
            other => panic!("FW_VERSION part `{part}`: {other:?}"),
        })
        .collect();
    assert!(
        is_firmware_version(&version),
        "FW_VERSION ({}) is {version:?}, not 1..={} of [A-Za-z0-9._+-]",
        c.place("FW_VERSION"),
        spec::MAX_FIRMWARE_VERSION_LEN
    );
}

/// The line rate main.c programs: `F_CPU / (8 or 16 × (UBRR0 + 1))`, F_CPU from the Makefile.
fn avr_baud() -> (u32, String) {
    let f_cpu: u32 = MAKEFILE
        .split("-DF_CPU=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .expect("-DF_CPU=<hz> in firmware/Makefile");
    let clean = strip_comments(MAIN_C);
    let reg = |name: &str| -> u32 {
        clean
            .split(&format!("{name} = "))
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{MAIN_C_NAME} sets {name} to a number"))
    };
    let ubrr = reg("UBRR0H") * 256 + reg("UBRR0L");
    let double_speed = clean.contains("UCSR0A = _BV(U2X0)");
    let divisor = if double_speed { 8 } else { 16 };
    let baud = f_cpu / (divisor * (ubrr + 1));
    (
        baud,
        format!("F_CPU {f_cpu}, UBRR0 {ubrr}, U2X {double_speed}"),
    )
}

/// main.c's comment gave the error of UBRR0 = 16 with U2X at 16 MHz as -0.8 %; it is +2.1 %
/// (117,647 baud), inside what a UART tolerates but worth stating right.
#[test]
fn avr_uart_runs_at_the_spec_baud_rate() {
    let (baud, how) = avr_baud();
    let error = (f64::from(baud) - f64::from(spec::BAUD_RATE)) / f64::from(spec::BAUD_RATE);
    assert!(
        error.abs() <= 0.025,
        "{MAIN_C_NAME} runs its UART at {baud} baud ({how}): {:+.1} % from spec::BAUD_RATE \
         = {}, over the 2.5 % a receiver tolerates",
        error * 100.0,
        spec::BAUD_RATE
    );
    let stated = format!("{:+.1} %", error * 100.0);
    assert!(
        MAIN_C.contains(&stated),
        "{MAIN_C_NAME} should state the rate error as {stated}"
    );
}
