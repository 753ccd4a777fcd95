//! Lays entries out in pages exactly as Espressif's generator does, straight into the image
//! buffer.
//!
//! This module owns the page walk: when a page is marked FULL and the next one opened, where
//! each entry and its data go, the state bitmap, and the chunking of version-2 blobs. Each
//! function mirrors one method of `Page`/`NVS` in `nvs_partition_gen.py` 0.3.0, including its
//! quirks (a string never takes a page's last entry; a blob begun on a page's last entry writes
//! an empty chunk there), because the image must be byte-identical. Values are copied only into
//! the caller's zeroizing buffer and into zeroizing scratch entries.

use zeroize::Zeroizing;

use crate::error::NvsError;
use crate::format::{
    crc32, entry_crc, ItemType, BITMAP_OFFSET, CHUNK_ANY, ENTRIES_PER_PAGE, ENTRY_SIZE,
    FIRST_ENTRY_OFFSET, MAX_CHUNK_INDEX, PAGE_SIZE, PAGE_STATE_ACTIVE, PAGE_STATE_FULL,
    PAGE_VERSION_2,
};

type Entry = Zeroizing<[u8; ENTRY_SIZE]>;

/// Writes pages into an image buffer that starts erased (all 0xFF).
pub(crate) struct PageWriter<'a> {
    image: &'a mut [u8],
    /// Index of the page being written; also its sequence number.
    page: usize,
    /// Entries used on that page (`Page.entry_num`).
    entry_num: usize,
    /// Pages that may be used in all, the reserved last page excluded.
    usable_pages: usize,
}

impl<'a> PageWriter<'a> {
    /// Opens page 0 of `image`, whose length is a checked multiple of the page size.
    pub(crate) fn new(image: &'a mut [u8]) -> Self {
        let usable_pages = image.len() / PAGE_SIZE - 1;
        let mut writer = PageWriter {
            image,
            page: 0,
            entry_num: 0,
            usable_pages,
        };
        writer.write_header();
        writer
    }

    /// A namespace entry: a u8 entry in namespace 0 whose key is the name and whose value is
    /// the namespace's index (`NVS.write_namespace_unsafe`).
    pub(crate) fn namespace(&mut self, name: &str, index: u8) -> Result<(), NvsError> {
        self.primitive(0, name, ItemType::U8, &[index])
    }

    /// A fixed-size value in one entry, little-endian in the data field
    /// (`Page.write_primitive_data`).
    pub(crate) fn primitive(
        &mut self,
        ns: u8,
        key: &str,
        kind: ItemType,
        le_bytes: &[u8],
    ) -> Result<(), NvsError> {
        if self.entry_num >= ENTRIES_PER_PAGE {
            self.next_page()?;
        }
        let mut entry = entry_head(ns, kind, 1, CHUNK_ANY, key);
        entry[24..24 + le_bytes.len()].copy_from_slice(le_bytes);
        self.put_entry(seal(entry));
        Ok(())
    }

    /// A string, NUL included in `with_nul`, in one header entry and its data entries on one
    /// page (`Page.write_varlen_data` and `write_single_page_entry`). The generator moves to a
    /// new page when `entry_num + total >= 126`, so a string never ends on the last entry.
    pub(crate) fn string(&mut self, ns: u8, key: &str, with_nul: &[u8]) -> Result<(), NvsError> {
        let data_entries = with_nul.len().div_ceil(ENTRY_SIZE);
        let total = data_entries + 1;
        if self.entry_num >= ENTRIES_PER_PAGE || self.entry_num + total >= ENTRIES_PER_PAGE {
            self.next_page()?;
        }
        // Checked by the builder against STRING_MAX_LEN; this guards the arithmetic below.
        if total >= ENTRIES_PER_PAGE {
            return Err(NvsError::StringTooLong {
                key: key.to_owned(),
                len: with_nul.len().saturating_sub(1),
                max: crate::format::STRING_MAX_LEN,
            });
        }
        let span = u8::try_from(total).unwrap_or(u8::MAX);
        let entry = data_head(ns, ItemType::Sz, span, CHUNK_ANY, key, with_nul);
        self.put_entry(entry);
        self.put_data(with_nul, data_entries);
        Ok(())
    }

    /// A version-2 blob: data chunks that fill each page's room, then an index entry
    /// (`Page.write_varlen_binary_data`).
    pub(crate) fn blob(&mut self, ns: u8, key: &str, data: &[u8]) -> Result<(), NvsError> {
        if self.entry_num >= ENTRIES_PER_PAGE {
            self.next_page()?;
        }
        let mut offset = 0;
        let mut chunk_count: u8 = 0;
        loop {
            // Room after this chunk's header; the generator asserts it is never negative.
            let tailroom = (ENTRIES_PER_PAGE - self.entry_num - 1) * ENTRY_SIZE;
            let chunk_len = tailroom.min(data.len() - offset);
            if chunk_count > MAX_CHUNK_INDEX {
                return Err(NvsError::BlobTooLarge {
                    key: key.to_owned(),
                    len: data.len(),
                });
            }
            let chunk = &data[offset..offset + chunk_len];
            let data_entries = chunk_len.div_ceil(ENTRY_SIZE);
            let span = u8::try_from(data_entries + 1).unwrap_or(u8::MAX);
            self.put_entry(data_head(
                ns,
                ItemType::BlobData,
                span,
                chunk_count,
                key,
                chunk,
            ));
            self.put_data(chunk, data_entries);
            chunk_count += 1;
            offset += chunk_len;
            let remaining = data.len() - offset;
            if remaining > 0 || tailroom - chunk_len < ENTRY_SIZE {
                self.next_page()?;
            }
            if remaining == 0 {
                break;
            }
        }
        let mut index = entry_head(ns, ItemType::BlobIdx, 1, CHUNK_ANY, key);
        let size = u32::try_from(data.len()).map_err(|_| NvsError::BlobTooLarge {
            key: key.to_owned(),
            len: data.len(),
        })?;
        index[24..28].copy_from_slice(&size.to_le_bytes());
        index[28] = chunk_count;
        index[29] = 0; // chunk_start: the first chunk index, version offset 0
        self.put_entry(seal(index));
        Ok(())
    }

    /// Marks the current page FULL and opens the next (`NVS.create_new_page`), or fails when
    /// only the reserved page is left (`InsufficientSizeError`).
    fn next_page(&mut self) -> Result<(), NvsError> {
        let start = self.page * PAGE_SIZE;
        if self.image[start..start + 4] == PAGE_STATE_ACTIVE.to_le_bytes() {
            self.image[start..start + 4].copy_from_slice(&PAGE_STATE_FULL.to_le_bytes());
        }
        if self.page + 1 >= self.usable_pages {
            return Err(NvsError::TooManyEntries {
                size: self.image.len(),
            });
        }
        self.page += 1;
        self.entry_num = 0;
        self.write_header();
        Ok(())
    }

    /// Page header: state ACTIVE, sequence number, version, CRC of bytes 4..28
    /// (`Page.set_header`).
    fn write_header(&mut self) {
        let start = self.page * PAGE_SIZE;
        let header = &mut self.image[start..start + 32];
        header[0..4].copy_from_slice(&PAGE_STATE_ACTIVE.to_le_bytes());
        // The sequence number is the page's index: far below u32::MAX for any partition.
        let seq = u32::try_from(self.page).unwrap_or(u32::MAX);
        header[4..8].copy_from_slice(&seq.to_le_bytes());
        header[8] = PAGE_VERSION_2;
        let crc = crc32(&header[4..28]);
        header[28..32].copy_from_slice(&crc.to_le_bytes());
    }

    fn put_entry(&mut self, entry: Entry) {
        let at = self.entry_offset();
        self.image[at..at + ENTRY_SIZE].copy_from_slice(&entry[..]);
        self.mark_written(1);
    }

    /// Data bytes from the next entry on; the tail of the last entry stays erased.
    fn put_data(&mut self, data: &[u8], entries: usize) {
        if data.is_empty() {
            return; // an empty blob chunk has no data entries, even on a full page
        }
        let at = self.entry_offset();
        self.image[at..at + data.len()].copy_from_slice(data);
        self.mark_written(entries);
    }

    fn entry_offset(&self) -> usize {
        debug_assert!(
            self.entry_num < ENTRIES_PER_PAGE,
            "entry past the end of a page"
        );
        self.page * PAGE_SIZE + FIRST_ENTRY_OFFSET + self.entry_num * ENTRY_SIZE
    }

    /// Clears the low bit of each entry's 2-bit state: 0b11 erased becomes 0b10 written
    /// (`Page.write_bitmaparray`).
    fn mark_written(&mut self, entries: usize) {
        for _ in 0..entries {
            let bit = self.entry_num * 2;
            let at = self.page * PAGE_SIZE + BITMAP_OFFSET + bit / 8;
            self.image[at] &= !(1u8 << (bit % 8));
            self.entry_num += 1;
        }
    }
}

/// An entry with its namespace, type, span, chunk index and NUL-padded key; data erased; its
/// CRC is filled in by [`seal`] once the data field is set.
fn entry_head(ns: u8, kind: ItemType, span: u8, chunk: u8, key: &str) -> Entry {
    let mut entry = Zeroizing::new([0xFF; ENTRY_SIZE]);
    entry[0] = ns;
    entry[1] = kind as u8;
    entry[2] = span;
    entry[3] = chunk;
    entry[8..24].fill(0);
    entry[8..8 + key.len()].copy_from_slice(key.as_bytes());
    entry
}

/// The header of a variable-length item: data size (u16) and data CRC in the data field.
fn data_head(ns: u8, kind: ItemType, span: u8, chunk: u8, key: &str, data: &[u8]) -> Entry {
    let mut entry = entry_head(ns, kind, span, chunk, key);
    // One page holds at most 4000 data bytes, so the size fits the u16 field.
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    entry[24..26].copy_from_slice(&len.to_le_bytes());
    entry[28..32].copy_from_slice(&crc32(data).to_le_bytes());
    seal(entry)
}

fn seal(mut entry: Entry) -> Entry {
    let crc = entry_crc(&entry);
    entry[4..8].copy_from_slice(&crc.to_le_bytes());
    entry
}
