//! Reading named, non-secret keys of one namespace from an NVS partition in flash, entry by
//! entry over READ_FLASH_SLOW, so the identity (device id, generation) can be read back without
//! reading any other key's value.
//!
//! Only page headers with their entry bitmaps (64 bytes each), the 32-byte first entry of every
//! written item (namespace, type, span, key name, and for a string its size and CRC-32) and the
//! data entries of the wanted keys cross the wire. The data entries of every other key,
//! secrets included, are skipped by their span and never read. Format: ESP-IDF NVS
//! "Internals" (pages, entry state bitmap, item header), constants from `station_nvs::format`.

use station_nvs::format::{
    crc32, entry_crc, ItemType, ENTRIES_PER_PAGE, ENTRY_SIZE, FIRST_ENTRY_OFFSET, PAGE_SIZE,
};

/// Bitmap state of an entry: two bits, `11` empty, `10` written, `00` erased.
const ENTRY_EMPTY: u8 = 0b11;
const ENTRY_WRITTEN: u8 = 0b10;
/// A page never initialised (all ones).
const PAGE_UNINITIALIZED: u32 = 0xFFFF_FFFF;
/// Namespace definitions live in namespace index 0.
const NAMESPACE_DEFS: u8 = 0;

/// A value of one of the wanted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadValue {
    Str(String),
    Uint(u64),
}

/// Reads flash for the reader (the loader's READ_FLASH_SLOW).
pub trait FlashRead {
    type Error;
    fn read(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, Self::Error>;
}

/// The values of `wanted` keys in `namespace` of the NVS partition at `offset`, `size` bytes.
/// A missing key is absent from the answer; a blank or damaged partition answers nothing.
pub fn read_keys<F: FlashRead>(
    flash: &mut F,
    offset: u32,
    size: u32,
    namespace: &str,
    wanted: &[&str],
) -> Result<Vec<(String, ReadValue)>, F::Error> {
    let mut found = Vec::new();
    let mut ns_index = None;
    for page in 0..(size as usize / PAGE_SIZE) {
        let base = offset + (page * PAGE_SIZE) as u32;
        let head = flash.read(base, FIRST_ENTRY_OFFSET)?;
        let state = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if state == PAGE_UNINITIALIZED {
            continue;
        }
        let bitmap = &head[32..64];
        let entry_state = |i: usize| (bitmap[i / 4] >> ((i % 4) * 2)) & 0b11;
        let mut i = 0;
        while i < ENTRIES_PER_PAGE {
            match entry_state(i) {
                ENTRY_EMPTY => break,
                ENTRY_WRITTEN => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            let at = base + (FIRST_ENTRY_OFFSET + i * ENTRY_SIZE) as u32;
            let entry = flash.read(at, ENTRY_SIZE)?;
            // An entry whose CRC does not match was torn by a cut write (its bitmap says
            // written, its bytes are not all there): ESP-IDF ignores it, and so does this
            // reader, one entry at a time, since its span cannot be trusted either.
            let Ok(header) = <[u8; ENTRY_SIZE]>::try_from(&entry[..]) else {
                i += 1;
                continue;
            };
            if entry_crc(&header).to_le_bytes() != entry[4..8] {
                i += 1;
                continue;
            }
            let (ns, ty, span) = (entry[0], entry[1], entry[2].max(1) as usize);
            let key = key_name(&entry[8..24]);
            if ns == NAMESPACE_DEFS && ty == ItemType::U8 as u8 && key == namespace {
                ns_index = Some(entry[24]);
            } else if Some(ns) == ns_index && wanted.contains(&key.as_str()) {
                if let Some(v) = value(flash, &entry, at, span)? {
                    found.push((key, v));
                    if found.len() == wanted.len() {
                        return Ok(found);
                    }
                }
            }
            i += span;
        }
    }
    Ok(found)
}

fn key_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn value<F: FlashRead>(
    flash: &mut F,
    entry: &[u8],
    at: u32,
    span: usize,
) -> Result<Option<ReadValue>, F::Error> {
    let data = &entry[24..32];
    let uint = |n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&data[..n]);
        Some(ReadValue::Uint(u64::from_le_bytes(b)))
    };
    Ok(match entry[1] {
        t if t == ItemType::U8 as u8 => uint(1),
        t if t == ItemType::U16 as u8 => uint(2),
        t if t == ItemType::U32 as u8 => uint(4),
        t if t == ItemType::U64 as u8 => uint(8),
        t if t == ItemType::Sz as u8 => {
            let len = u16::from_le_bytes([data[0], data[1]]) as usize;
            if len == 0 || len > (span - 1) * ENTRY_SIZE {
                return Ok(None);
            }
            let bytes = flash.read(at + ENTRY_SIZE as u32, len)?;
            // The data's own CRC, as ESP-IDF checks it: torn data is no value.
            if bytes.len() != len || crc32(&bytes).to_le_bytes() != data[4..8] {
                return Ok(None);
            }
            // The stored length counts the NUL.
            let text = String::from_utf8_lossy(&bytes[..len - 1]).into_owned();
            Some(ReadValue::Str(text))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use station_nvs::NvsImage;

    const SIZE: usize = 3 * PAGE_SIZE;

    /// A torn copy of `image`: the partition erased (all ones), then the first `len` bytes
    /// written, the rest of the byte at `len` half-programmed (NOR flash turns ones into
    /// zeros, so a torn byte holds some of its zeros).
    struct Torn(Vec<u8>);

    impl Torn {
        fn new(image: &[u8], len: usize) -> Torn {
            let mut flash = vec![0xFF; image.len()];
            flash[..len].copy_from_slice(&image[..len]);
            if len < image.len() {
                flash[len] = image[len] | 0xF0;
            }
            Torn(flash)
        }
    }

    impl FlashRead for Torn {
        type Error = ();
        fn read(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, ()> {
            let at = offset as usize;
            self.0.get(at..at + len).map(<[u8]>::to_vec).ok_or(())
        }
    }

    #[test]
    fn a_torn_write_never_shows_the_generation_without_every_key_before_it() {
        // The station writes the generation last (Key::ALL order): at every cut, either the
        // generation is read and so is the device id (with the right text), or no generation.
        let image = NvsImage::builder(SIZE)
            .namespace("dh")
            .string("device_id", "esp-sensor-000042")
            .string("mqtt_password", "a-long-enough-password-for-two-entries")
            .string("broker_host", "broker.factory.example.com")
            .u32("dh_generation", 7)
            .build()
            .expect("image");
        let whole = read_keys(
            &mut Torn::new(&image, image.len()),
            0,
            SIZE as u32,
            "dh",
            &["device_id", "dh_generation"],
        )
        .expect("read");
        assert_eq!(whole.len(), 2);
        let end = 2 * FIRST_ENTRY_OFFSET + 16 * ENTRY_SIZE;
        for len in 0..end {
            let got = read_keys(
                &mut Torn::new(&image, len),
                0,
                SIZE as u32,
                "dh",
                &["device_id", "dh_generation"],
            )
            .expect("read");
            let generation = got.iter().find(|(k, _)| k == "dh_generation");
            let device_id = got.iter().find(|(k, _)| k == "device_id");
            if let Some((_, g)) = generation {
                assert_eq!(g, &ReadValue::Uint(7), "cut at {len}");
                assert_eq!(
                    device_id.map(|(_, v)| v),
                    Some(&ReadValue::Str("esp-sensor-000042".into())),
                    "cut at {len}"
                );
            }
            if let Some((_, d)) = device_id {
                assert_eq!(
                    d,
                    &ReadValue::Str("esp-sensor-000042".into()),
                    "cut at {len}"
                );
            }
        }
    }
}
