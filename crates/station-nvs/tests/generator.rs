//! The station's NVS image, byte for byte against Espressif's `esp-idf-nvs-partition-gen`
//! 0.3.0 for the same CSV, run in each test through the vendor venv. The generator's image goes
//! to a temp file (it is the oracle); the station's stays in memory.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_same_image, generator_image};
use station_nvs::format::STRING_MAX_LEN;
use station_nvs::{NvsError, NvsImage, NvsImageBuilder, NvsValue, Zeroizing};

/// One CSV row: a namespace, or a key and its value.
enum Row {
    Ns(String),
    Val(String, NvsValue),
}

fn ns(name: &str) -> Row {
    Row::Ns(name.to_owned())
}

fn val(key: &str, value: NvsValue) -> Row {
    Row::Val(key.to_owned(), value)
}

fn string(s: &str) -> NvsValue {
    NvsValue::String(Zeroizing::new(s.to_owned()))
}

fn blob(b: &[u8]) -> NvsValue {
    NvsValue::Blob(Zeroizing::new(b.to_vec()))
}

/// The generator's CSV for the rows (`key,type,encoding,value`; blobs as `hex2bin`).
fn csv_of(rows: &[Row]) -> String {
    let mut csv = String::from("key,type,encoding,value\n");
    for row in rows {
        let line = match row {
            Row::Ns(name) => format!("{name},namespace,,"),
            Row::Val(key, value) => {
                let (encoding, text) = match value {
                    NvsValue::U8(v) => ("u8", v.to_string()),
                    NvsValue::I8(v) => ("i8", v.to_string()),
                    NvsValue::U16(v) => ("u16", v.to_string()),
                    NvsValue::I16(v) => ("i16", v.to_string()),
                    NvsValue::U32(v) => ("u32", v.to_string()),
                    NvsValue::I32(v) => ("i32", v.to_string()),
                    NvsValue::U64(v) => ("u64", v.to_string()),
                    NvsValue::I64(v) => ("i64", v.to_string()),
                    NvsValue::String(s) => ("string", format!("\"{}\"", s.replace('"', "\"\""))),
                    NvsValue::Blob(b) => {
                        ("hex2bin", b.iter().map(|x| format!("{x:02x}")).collect())
                    }
                };
                format!("{key},data,{encoding},{text}")
            }
        };
        csv.push_str(&line);
        csv.push('\n');
    }
    csv
}

fn builder_of(size: usize, rows: &[Row]) -> NvsImageBuilder {
    rows.iter()
        .fold(NvsImage::builder(size), |b, row| match row {
            Row::Ns(name) => b.namespace(name),
            Row::Val(key, value) => b.value(key, value.clone()),
        })
}

fn assert_matches_generator(case: &str, size: usize, rows: &[Row]) {
    let ours = builder_of(size, rows)
        .build()
        .unwrap_or_else(|e| panic!("{case}: station refused: {e}"));
    let theirs = generator_image(&csv_of(rows), size)
        .unwrap_or_else(|| panic!("{case}: the generator refused the CSV"));
    assert_same_image(&ours, &theirs, case);
}

/// `count` u8 keys named k0, k1, ...
fn fillers(count: usize) -> Vec<Row> {
    (0..count)
        .map(|i| val(&format!("k{i}"), NvsValue::U8((i % 256) as u8)))
        .collect()
}

#[test]
fn one_string_key_matches_the_generator() {
    let rows = [ns("mqtt"), val("user", string("station-0042"))];
    assert_matches_generator("one key", 0x3000, &rows);
}

#[test]
fn every_type_at_its_limits_matches_the_generator() {
    let rows = [
        ns("cfg"),
        val("u8_min", NvsValue::U8(0)),
        val("u8_max", NvsValue::U8(u8::MAX)),
        val("i8_min", NvsValue::I8(i8::MIN)),
        val("u16", NvsValue::U16(1883)),
        val("i16", NvsValue::I16(i16::MIN)),
        val("u32", NvsValue::U32(u32::MAX)),
        val("i32", NvsValue::I32(-2)),
        val("u64", NvsValue::U64(u64::MAX)),
        val("i64", NvsValue::I64(i64::MIN)),
        val("empty_str", string("")),
        val("utf8", string("grüße, \"quoted\" ✓")),
        val("str_32", string(&"x".repeat(31))),
        val("empty_blob", blob(&[])),
        val("blob_1", blob(&[0x00])),
        val("blob_33", blob(&[0xA5; 33])),
        val("max_key_len_15", NvsValue::U8(7)),
    ];
    assert_matches_generator("every type", 0x3000, &rows);
}

#[test]
fn long_strings_and_blobs_spilling_across_pages_match_the_generator() {
    let text = |n: usize| {
        (0..n)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect::<String>()
    };
    let bytes = |n: usize| (0..n).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>();
    let rows = [
        ns("certs"),
        val("s1000", string(&text(1000))),
        val("s2000", string(&text(2000))),
        val("s_max", string(&text(STRING_MAX_LEN))),
        val("b10000", blob(&bytes(10_000))),
        val("b4000", blob(&bytes(4000))),
        val("b3999", blob(&bytes(3999))),
        val("after", NvsValue::U32(42)),
    ];
    assert_matches_generator("spill", 0xA000, &rows);
}

#[test]
fn a_page_filled_to_its_last_entry_stays_active_like_the_generators() {
    // The namespace and 125 keys take all 126 entries of page 0 and no page is opened.
    let mut rows = vec![ns("full")];
    rows.extend(fillers(125));
    assert_matches_generator("full page", 0x3000, &rows);
    // One more key marks page 0 FULL and opens page 1.
    rows.push(val("next", NvsValue::U16(9)));
    assert_matches_generator("full page + 1", 0x3000, &rows);
}

#[test]
fn regression_a_string_never_takes_the_last_entry_of_a_page() {
    // 123 entries used, a 2-entry string needs 3: the generator's `>=` moves it to page 1.
    let mut rows = vec![ns("edge")];
    rows.extend(fillers(122));
    rows.push(val("s", string(&"y".repeat(40))));
    assert_matches_generator("string at the page end", 0x3000, &rows);
}

#[test]
fn regression_a_blob_begun_on_the_last_entry_writes_an_empty_chunk_first() {
    // 125 entries used: the generator writes a 0-byte chunk 0 there, then the data as chunk 1.
    let mut rows = vec![ns("edge")];
    rows.extend(fillers(124));
    rows.push(val("b", blob(&[0x11; 100])));
    assert_matches_generator("blob at the last entry", 0x3000, &rows);
}

#[test]
fn regression_a_blob_filling_a_page_puts_its_index_on_the_next_page() {
    // Entries 2..=125 take the chunk header and 123 data entries (3936 bytes): no room is left
    // for the index, so the page is marked FULL and the index opens page 1. 3930 bytes round
    // up to the same entries.
    for len in [3936, 3930] {
        let rows = [
            ns("edge"),
            val("pad", NvsValue::U8(0)),
            val("b", blob(&vec![0x5A; len])),
        ];
        assert_matches_generator(&format!("blob of {len} filling page 0"), 0x3000, &rows);
    }
}

#[test]
fn empty_namespaces_match_the_generator() {
    assert_matches_generator("empty namespace", 0x3000, &[ns("empty")]);
    let rows = [ns("a"), ns("b"), val("port", NvsValue::U16(8883)), ns("c")];
    assert_matches_generator("namespaces around one key", 0x4000, &rows);
}

/// A deterministic mix of every type and size, so layouts nobody thought of get compared too.
fn seeded_rows(seed: u64, count: usize) -> Vec<Row> {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let mut rows = vec![ns("mix0")];
    for i in 0..count {
        let key = format!("key{i}");
        let n = next(1 << 31);
        let row = match next(9) {
            0 => val(&key, NvsValue::U8(n as u8)),
            1 => val(&key, NvsValue::I16(n as i16)),
            2 => val(&key, NvsValue::U32(n as u32)),
            3 => val(&key, NvsValue::I32(-(n as i32))),
            4 => val(&key, NvsValue::I64(-(n as i64) * 1_000_003)),
            5 | 6 => val(&key, string(&"z".repeat(next(700) as usize))),
            7 => val(&key, blob(&vec![n as u8; next(2500) as usize])),
            _ => ns(&format!("mix{}", i + 1)),
        };
        rows.push(row);
    }
    rows
}

#[test]
fn seeded_mixes_of_all_types_match_the_generator() {
    for seed in [1u64, 7, 2026] {
        let rows = seeded_rows(seed, 70);
        assert_matches_generator(&format!("seed {seed}"), 0x20000, &rows);
    }
}

#[test]
fn a_key_over_15_characters_is_refused_like_the_generator_does() {
    let rows = [ns("mqtt"), val("sixteen_chars_xx", NvsValue::U8(1))];
    let err = builder_of(0x3000, &rows).build().unwrap_err();
    assert_eq!(
        err,
        NvsError::InvalidKey {
            key: "sixteen_chars_xx".into()
        }
    );
    assert!(generator_image(&csv_of(&rows), 0x3000).is_none());
}

#[test]
fn a_string_over_the_generators_limit_is_refused_like_the_generator_does() {
    let rows = [
        ns("mqtt"),
        val("cert", string(&"c".repeat(STRING_MAX_LEN + 1))),
    ];
    let err = builder_of(0x4000, &rows).build().unwrap_err();
    assert_eq!(err.code(), "nvs_string_too_long");
    assert!(generator_image(&csv_of(&rows), 0x4000).is_none());
}

#[test]
fn too_many_entries_for_the_size_are_refused_like_the_generator_does() {
    // Two usable pages hold 252 entries; the namespace and 252 keys need 253.
    let mut rows = vec![ns("many")];
    rows.extend(fillers(252));
    let err = builder_of(0x3000, &rows).build().unwrap_err();
    assert_eq!(err, NvsError::TooManyEntries { size: 0x3000 });
    assert!(!err.help().is_empty());
    assert!(generator_image(&csv_of(&rows), 0x3000).is_none());
    // One fewer fits, in both.
    rows.pop();
    assert_matches_generator("two full pages", 0x3000, &rows);
}

#[test]
fn sizes_that_are_not_whole_pages_or_below_three_pages_are_refused() {
    for size in [0, 0x1000, 0x2000, 0x3001, 0x3800] {
        let err = NvsImage::builder(size).namespace("a").build().unwrap_err();
        assert_eq!(err, NvsError::ImageSize { size });
    }
}

#[test]
fn ambiguous_inputs_are_refused_before_any_layout() {
    let cases: [(NvsImageBuilder, &str); 6] = [
        (
            NvsImage::builder(0x3000).u8("orphan", 1),
            "nvs_no_namespace",
        ),
        (
            NvsImage::builder(0x3000).namespace("a").namespace("a"),
            "nvs_duplicate_namespace",
        ),
        (
            NvsImage::builder(0x3000)
                .namespace("a")
                .u8("k", 1)
                .u16("k", 2),
            "nvs_duplicate_key",
        ),
        (
            NvsImage::builder(0x3000)
                .namespace("a")
                .string("sta.ssid", "x"),
            "nvs_reserved_key",
        ),
        (
            NvsImage::builder(0x3000).namespace("a").string("s", "a\0b"),
            "nvs_string_contains_nul",
        ),
        (
            NvsImage::builder(0x3000).namespace("").u8("k", 1),
            "nvs_invalid_key",
        ),
    ];
    for (builder, code) in cases {
        assert_eq!(builder.build().unwrap_err().code(), code);
    }
    // The same key in two namespaces is two different settings.
    let ok = NvsImage::builder(0x3000)
        .namespace("a")
        .u8("k", 1)
        .namespace("b")
        .u8("k", 2);
    assert!(ok.build().is_ok());
}
