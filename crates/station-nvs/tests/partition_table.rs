//! The partition table reader against tables as ESP-IDF writes them, and against damaged ones.
//!
//! `gen_esp32part.py` ships with ESP-IDF, not with the pinned `esptool` package, so the tables
//! here are written by a few lines of Python in the vendor venv straight from the documented
//! format (`struct.pack('<2sBBLL16sL', ...)`, the `0xEBEB` MD5 entry, 0xFF padding of the 4 KiB
//! sector): an implementation independent of the Rust reader.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use station_nvs::{NvsError, NvsImage, Partition, PartitionTable};

const WRITE_TABLE: &str = r#"
import hashlib, struct, sys
md5 = sys.argv[1] == "md5"
out = b""
for line in sys.stdin.read().split("\n"):
    if not line.strip():
        continue
    label, ptype, subtype, offset, size, flags = line.split()
    out += struct.pack("<2sBBLL16sL", b"\xAA\x50", int(ptype, 0), int(subtype, 0),
                       int(offset, 0), int(size, 0), label.encode(), int(flags, 0))
if md5:
    out += b"\xEB\xEB" + b"\xFF" * 14 + hashlib.md5(out).digest()
out += b"\xFF" * (0x1000 - len(out))
sys.stdout.buffer.write(out)
"#;

/// The 4 KiB sector at 0x8000 for `rows` (`label type subtype offset size flags` per line).
fn table_sector(rows: &str, with_md5: bool) -> Vec<u8> {
    let mut child = Command::new(common::vendor_python())
        .args(["-c", WRITE_TABLE, if with_md5 { "md5" } else { "none" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rows.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "table writer failed");
    out.stdout
}

/// ESP-IDF's default "Single factory app, no OTA" table (`partitions_singleapp.csv`).
const SINGLE_APP: &str = "nvs 1 2 0x9000 0x6000 0\n\
                          phy_init 1 1 0xf000 0x1000 0\n\
                          factory 0 0 0x10000 0x100000 0\n";

fn part(label: &str, kind: u8, subtype: u8, offset: u32, size: u32, flags: u32) -> Partition {
    Partition {
        label: label.into(),
        kind,
        subtype,
        offset,
        size,
        flags,
    }
}

#[test]
fn the_default_single_app_table_parses_and_its_nvs_is_found() {
    let table = PartitionTable::parse(&table_sector(SINGLE_APP, true)).unwrap();
    assert!(table.md5_checked());
    assert_eq!(
        table.partitions(),
        [
            part("nvs", 1, 2, 0x9000, 0x6000, 0),
            part("phy_init", 1, 1, 0xF000, 0x1000, 0),
            part("factory", 0, 0, 0x10000, 0x10_0000, 0),
        ]
    );
    let nvs = part("nvs", 1, 2, 0x9000, 0x6000, 0);
    assert_eq!(table.find_nvs(None), Some(nvs.clone()));
    assert_eq!(table.find_nvs(Some("nvs")), Some(nvs.clone()));
    // The whole image for that partition fits it, and the reader says where it goes.
    let image = NvsImage::builder(nvs.size as usize)
        .namespace("mqtt")
        .u16("port", 8883)
        .build()
        .unwrap();
    assert_eq!(table.nvs_for_image(None, image.len()).unwrap(), nvs);
}

#[test]
fn a_factory_nvs_partition_is_found_by_its_label_and_nvs_keys_is_not_nvs() {
    let rows = "nvs 1 2 0x9000 0x4000 0\n\
                nvs_key 1 4 0xd000 0x1000 1\n\
                otadata 1 0 0xe000 0x2000 0\n\
                ota_0 0 0x10 0x10000 0x100000 0\n\
                fctry 1 2 0x110000 0x6000 0\n\
                sixteen_chars_ab 1 0x82 0x120000 0x10000 2\n";
    let table = PartitionTable::parse(&table_sector(rows, true)).unwrap();
    assert_eq!(table.partitions().len(), 6);
    assert_eq!(table.partitions()[5].label, "sixteen_chars_ab");
    assert_eq!(table.partitions()[5].flags, 2);
    assert_eq!(
        table.find_nvs(Some("fctry")),
        Some(part("fctry", 1, 2, 0x11_0000, 0x6000, 0))
    );
    assert_eq!(table.find_nvs(None).unwrap().label, "nvs");
    assert_eq!(table.find_nvs(Some("nvs_key")), None);
    assert_eq!(table.find_nvs(Some("missing")), None);
}

#[test]
fn without_an_nvs_label_the_first_nvs_subtype_is_taken() {
    let rows = "factory 0 0 0x10000 0x100000 0\n\
                config 1 2 0x110000 0x3000 0\n\
                config2 1 2 0x113000 0x3000 0\n";
    let table = PartitionTable::parse(&table_sector(rows, true)).unwrap();
    assert_eq!(table.find_nvs(None).unwrap().label, "config");
}

#[test]
fn a_table_without_its_md5_entry_still_parses() {
    let table = PartitionTable::parse(&table_sector(SINGLE_APP, false)).unwrap();
    assert!(!table.md5_checked());
    assert_eq!(table.partitions().len(), 3);
}

#[test]
fn a_changed_byte_under_the_md5_is_refused() {
    let mut sector = table_sector(SINGLE_APP, true);
    sector[32 + 8] ^= 0x01; // phy_init's size
    let err = PartitionTable::parse(&sector).unwrap_err();
    assert_eq!(
        err,
        NvsError::CorruptPartitionTable {
            index: 3,
            reason: "the MD5 of the entries does not match"
        }
    );
    assert!(!err.help().is_empty());
}

#[test]
fn what_is_not_a_table_is_refused() {
    let erased = vec![0xFF; 0x1000];
    let mut app_image = vec![0xFF; 0x1000];
    app_image[0] = 0xE9; // an app image header, as when the offset is wrong
    let mut state = 0x2545_F491_u32;
    let noise: Vec<u8> = (0..0x1000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    for (case, bytes) in [
        ("erased", &erased[..]),
        ("app", &app_image),
        ("noise", &noise),
        ("short", &[0xAA, 0x50]),
    ] {
        let err = PartitionTable::parse(bytes).unwrap_err();
        assert_eq!(err.code(), "not_a_partition_table", "{case}");
    }
}

#[test]
fn damaged_entries_and_a_missing_end_marker_are_refused() {
    let mut bad_magic = table_sector(SINGLE_APP, false);
    bad_magic[32] = 0x00;
    let mut bad_label = table_sector(SINGLE_APP, false);
    bad_label[12] = 0xC3; // a lone UTF-8 lead byte in "nvs"
    let truncated = table_sector(SINGLE_APP, false)[..32 + 16].to_vec();
    // 96 entries fill the 0xC00 bytes: no room is left for the end marker.
    let full: String = (0..96)
        .map(|i| format!("p{i} 1 0x81 0x{:x} 0x1000 0\n", 0x10000 + i * 0x1000))
        .collect();
    let no_end = table_sector(&full, false);
    let cases = [
        (&bad_magic, 1, "the entry has no 0xAA50 magic"),
        (&bad_label, 0, "the label is not text"),
        (&truncated, 1, "the table ends in the middle of an entry"),
        (&no_end, 96, "there is no end-of-table marker"),
    ];
    for (bytes, index, reason) in cases {
        let err = PartitionTable::parse(bytes).unwrap_err();
        assert_eq!(err, NvsError::CorruptPartitionTable { index, reason });
    }
}

#[test]
fn no_nvs_partition_and_a_too_small_one_are_typed_errors_with_help() {
    let no_nvs =
        PartitionTable::parse(&table_sector("factory 0 0 0x10000 0x100000 0\n", true)).unwrap();
    let err = no_nvs.nvs_for_image(Some("nvs"), 0x3000).unwrap_err();
    assert_eq!(
        err,
        NvsError::NoNvsPartition {
            label: Some("nvs".into())
        }
    );
    assert!(err.to_string().contains("\"nvs\""));
    assert!(!err.help().is_empty());

    let table = PartitionTable::parse(&table_sector(SINGLE_APP, true)).unwrap();
    let err = table.nvs_for_image(None, 0x7000).unwrap_err();
    assert_eq!(
        err,
        NvsError::PartitionTooSmall {
            label: "nvs".into(),
            size: 0x6000,
            needed: 0x7000
        }
    );
    assert_eq!(err.code(), "nvs_partition_too_small");
}
