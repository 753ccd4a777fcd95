//! The A/B slot image the reference AVR firmware keeps its stored config in, as bytes.
//!
//! This module owns the layout of `struct nv` in `firmware/avr/main.c`, the one place on the
//! Rust side that knows it: a 4-byte magic, the index of the active slot (the one byte whose
//! write commits, spec §7.4), a reserved byte, each slot's blob length (16-bit little-endian,
//! 0 for none), then the two slots of equal size. The station's QEMU tests dump that memory and
//! read the committed blob with [`committed_blob`]; `tests/avr_example.rs` reads the C struct and
//! fails if the two layouts part. What a slot holds is the spec's stored form
//! ([`crate::StoredConfig::from_blob`]).

/// Written at the start of the image once it is formatted (`NV_MAGIC` in main.c).
pub const MAGIC: &[u8; 4] = b"DHNV";
/// Offset of the active slot's index (0 or 1).
pub const ACTIVE_OFFSET: usize = 4;
/// Offset of the first slot's blob length; the second follows.
pub const LEN_OFFSET: usize = 6;
/// Bytes of one blob length.
pub const LEN_BYTES: usize = 2;
/// Number of slots.
pub const SLOTS: usize = 2;
/// Offset of the first slot; the second follows it.
pub const HEADER_LEN: usize = LEN_OFFSET + SLOTS * LEN_BYTES;

/// Size of a whole image with slots of `slot_bytes` each.
pub fn image_len(slot_bytes: usize) -> usize {
    HEADER_LEN + SLOTS * slot_bytes
}

/// The committed blob of an image (the slot size follows from the image's length), or `None`
/// when the image is not formatted, names no valid slot, or holds no blob.
pub fn committed_blob(image: &[u8]) -> Option<&[u8]> {
    if image.len() < HEADER_LEN || !image.starts_with(MAGIC) {
        return None;
    }
    let active = usize::from(image[ACTIVE_OFFSET]);
    if active >= SLOTS {
        return None;
    }
    let slot_bytes = (image.len() - HEADER_LEN) / SLOTS;
    let at = LEN_OFFSET + active * LEN_BYTES;
    let len = usize::from(u16::from_le_bytes([image[at], image[at + 1]]));
    if len == 0 || len > slot_bytes {
        return None;
    }
    let start = HEADER_LEN + active * slot_bytes;
    image.get(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(active: u8, lens: [u16; 2], slot_bytes: usize) -> Vec<u8> {
        let mut img = vec![0u8; image_len(slot_bytes)];
        img[..4].copy_from_slice(MAGIC);
        img[ACTIVE_OFFSET] = active;
        for (i, len) in lens.iter().enumerate() {
            let at = LEN_OFFSET + i * LEN_BYTES;
            img[at..at + 2].copy_from_slice(&len.to_le_bytes());
        }
        for (i, b) in img[HEADER_LEN..].iter_mut().enumerate() {
            *b = u8::from(i >= slot_bytes) + 1;
        }
        img
    }

    #[test]
    fn the_active_slot_is_read_and_the_other_ignored() {
        assert_eq!(committed_blob(&image(0, [3, 5], 8)), Some(&[1u8, 1, 1][..]));
        assert_eq!(committed_blob(&image(1, [3, 5], 8)), Some(&[2u8; 5][..]));
    }

    #[test]
    fn blank_torn_or_empty_images_hold_no_blob() {
        let mut blank = image(0, [3, 0], 8);
        blank[0] = 0;
        assert_eq!(committed_blob(&blank), None);
        assert_eq!(committed_blob(&image(2, [3, 3], 8)), None);
        assert_eq!(committed_blob(&image(1, [3, 0], 8)), None);
        assert_eq!(committed_blob(&image(0, [9, 0], 8)), None);
        assert_eq!(committed_blob(&MAGIC[..]), None);
    }
}
