//! The NVS on-flash format facts this crate writes, in one place, each next to its source.
//!
//! Sources: ESP-IDF's "Non-Volatile Storage Library" documentation (section "Internals": pages,
//! entries, the entry state bitmap, item types, multi-page blobs), `components/nvs_flash/src/
//! nvs_types.hpp` and `nvs_page.hpp`, and the generator we must match byte for byte,
//! `esp_idf_nvs_partition_gen/nvs_partition_gen.py` 0.3.0 (class `Page`). Where the generator
//! differs from what the library would accept (its page-full rule, its string limit), the
//! generator wins: the image must be the one it writes. See the crate README for the list.

/// A flash sector: one NVS page (`Page.PAGE_PARAMS['max_size']`, `SPI_FLASH_SEC_SIZE`).
pub const PAGE_SIZE: usize = 4096;
/// Bytes in one entry (`Page.SINGLE_ENTRY_SIZE`, `Item` is 32 bytes in `nvs_types.hpp`).
pub const ENTRY_SIZE: usize = 32;
/// Entries per page after the 32-byte header and the 32-byte state bitmap
/// (`Page.PAGE_PARAMS['max_entries']`, `Page::ENTRY_COUNT`).
pub const ENTRIES_PER_PAGE: usize = 126;
/// Offset of the entry state bitmap in a page (`Page.BITMAPARRAY_OFFSET`).
pub const BITMAP_OFFSET: usize = 32;
/// Offset of entry 0 in a page (`Page.FIRST_ENTRY_OFFSET`).
pub const FIRST_ENTRY_OFFSET: usize = 64;

/// Page state of the page being written (`Page.ACTIVE`, `PageState::ACTIVE`).
pub const PAGE_STATE_ACTIVE: u32 = 0xFFFF_FFFE;
/// Page state of a page the writer moved on from (`Page.FULL`, `PageState::FULL`).
pub const PAGE_STATE_FULL: u32 = 0xFFFF_FFFC;
/// Page header format version byte for version 2, multi-page blobs (`Page.VERSION2`);
/// the generator's default (`--version 2`).
pub const PAGE_VERSION_2: u8 = 0xFE;

/// Chunk index of an entry that is not a blob chunk (`Page.CHUNK_ANY`).
pub const CHUNK_ANY: u8 = 0xFF;
/// Highest chunk index of a blob written at version offset 0: chunks `0..=127`
/// (`VerOffset::VER_0_OFFSET`, `VER_1_OFFSET = 0x80` in `nvs_types.hpp`).
pub const MAX_CHUNK_INDEX: u8 = 0x7F;

/// Longest key or namespace name: the 16-byte key field holds 15 characters and a NUL
/// (`NVS_KEY_NAME_MAX_SIZE`; the generator's `max_key_len = 15`).
pub const KEY_MAX_LEN: usize = 15;
/// Most namespaces one partition holds: the namespace index is one byte, 0 and 255 reserved
/// (`NVS_NS_COUNT` in the library).
pub const MAX_NAMESPACES: usize = 254;
/// Longest string value in bytes, without its NUL. The generator's stated limit is 4000 bytes
/// with the NUL (`max_blob_size[VERSION2]`), but it moves a string to a new page when
/// `entry_num + total >= 126` and raises `PageFullError` if the string still does not fit, so
/// 3968 bytes with the NUL (124 data entries and the header, on a fresh page) is what it writes.
pub const STRING_MAX_LEN: usize = (ENTRIES_PER_PAGE - 2) * ENTRY_SIZE - 1;
/// Smallest partition the generator writes as a read/write NVS (two pages and the reserved one;
/// `check_size`).
pub const MIN_PARTITION_SIZE: usize = 3 * PAGE_SIZE;

/// Keys for which the generator writes extra, hidden Wi-Fi entries (`write_entry` in
/// `nvs_partition_gen.py`): an image with them would not match the station's.
pub const GENERATOR_WIFI_KEYS: [&str; 5] = [
    "sta.ssid",
    "sta.pswd",
    "ap.ssid",
    "ap.passwd",
    "ap.authmode",
];

/// Item type byte of an entry (`ItemType` in `nvs_types.hpp`, the constants of `Page`).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    /// Unsigned 8-bit; also the type of a namespace entry.
    U8 = 0x01,
    /// Signed 8-bit.
    I8 = 0x11,
    /// Unsigned 16-bit.
    U16 = 0x02,
    /// Signed 16-bit.
    I16 = 0x12,
    /// Unsigned 32-bit.
    U32 = 0x04,
    /// Signed 32-bit.
    I32 = 0x14,
    /// Unsigned 64-bit.
    U64 = 0x08,
    /// Signed 64-bit.
    I64 = 0x18,
    /// NUL-terminated string, one page at most.
    Sz = 0x21,
    /// One chunk of a version-2 blob.
    BlobData = 0x42,
    /// The index entry of a version-2 blob: total size and chunk count.
    BlobIdx = 0x48,
}

/// CRC-32 as the generator computes it: `zlib.crc32(data, 0xFFFFFFFF)`, i.e. the IEEE
/// polynomial continued from a running value of `0xFFFFFFFF` (the library's `crc32_le(0xffffffff, ..)`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
    hasher.update(data);
    hasher.finalize()
}

/// CRC of an entry: its first 4 bytes and its last 24, skipping the CRC field itself
/// (`Page.set_crc_header`, `Item::calculateCrc32`).
pub fn entry_crc(entry: &[u8; ENTRY_SIZE]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
    hasher.update(&entry[0..4]);
    hasher.update(&entry[8..32]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_nothing_is_the_starting_value_like_zlib() {
        // zlib.crc32(b'', 0xFFFFFFFF) == 0xFFFFFFFF: the running value passes through.
        assert_eq!(crc32(&[]), 0xFFFF_FFFF);
    }

    #[test]
    fn string_limit_is_what_fits_on_a_fresh_page_under_the_generators_rule() {
        let entries_with_nul = (STRING_MAX_LEN + 1).div_ceil(ENTRY_SIZE);
        assert!(entries_with_nul + 1 < ENTRIES_PER_PAGE);
        assert!((STRING_MAX_LEN + 2).div_ceil(ENTRY_SIZE) + 1 >= ENTRIES_PER_PAGE);
    }
}
