//! The NVS image builder: the values one device gets, checked, then laid out in memory.
//!
//! This module owns what a caller can put in an image (namespaces, then typed keys, in order),
//! the checks that mirror the generator's CSV rules (key length, string limit, reserved Wi-Fi
//! keys) plus the ones that keep the device's reading unambiguous (no duplicate namespace or
//! key, no NUL inside a string), and the order in which entries reach [`PageWriter`]: the order
//! they were added, as the generator writes CSV rows. Values live only in zeroizing buffers and
//! are never shown by `Debug`; the image itself is returned in a zeroizing buffer and never
//! written to disk here.

use std::collections::HashSet;
use std::fmt;

use zeroize::Zeroizing;

use crate::error::NvsError;
use crate::format::{
    ItemType, GENERATOR_WIFI_KEYS, KEY_MAX_LEN, MAX_NAMESPACES, MIN_PARTITION_SIZE, PAGE_SIZE,
    STRING_MAX_LEN,
};
use crate::writer::PageWriter;

/// One value of an NVS key, as the generator's CSV encodings allow.
#[derive(Clone)]
pub enum NvsValue {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `string`: UTF-8, stored with a NUL terminator.
    String(Zeroizing<String>),
    /// `hex2bin` / `base64` / `binary`: raw bytes, stored as a version-2 blob.
    Blob(Zeroizing<Vec<u8>>),
}

impl NvsValue {
    /// The CSV encoding name the generator uses for this value.
    pub fn encoding(&self) -> &'static str {
        match self {
            NvsValue::U8(_) => "u8",
            NvsValue::I8(_) => "i8",
            NvsValue::U16(_) => "u16",
            NvsValue::I16(_) => "i16",
            NvsValue::U32(_) => "u32",
            NvsValue::I32(_) => "i32",
            NvsValue::U64(_) => "u64",
            NvsValue::I64(_) => "i64",
            NvsValue::String(_) => "string",
            NvsValue::Blob(_) => "blob",
        }
    }
}

impl fmt::Debug for NvsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NvsValue::String(s) => write!(f, "string(<{} bytes redacted>)", s.len()),
            NvsValue::Blob(b) => write!(f, "blob(<{} bytes redacted>)", b.len()),
            other => write!(f, "{}(<redacted>)", other.encoding()),
        }
    }
}

#[derive(Debug, Clone)]
enum Item {
    Namespace(String),
    Value { key: String, value: NvsValue },
}

/// An ESP-IDF NVS partition image (format version 2, unencrypted), built in memory.
#[derive(Debug)]
pub struct NvsImage;

impl NvsImage {
    /// Starts an image for a partition of `size_bytes` (the NVS partition's size).
    pub fn builder(size_bytes: usize) -> NvsImageBuilder {
        NvsImageBuilder {
            size: size_bytes,
            items: Vec::new(),
        }
    }
}

/// Collects namespaces and keys in order; [`NvsImageBuilder::build`] checks and lays them out.
/// `Debug` shows key names and types, never values.
#[derive(Debug, Clone)]
pub struct NvsImageBuilder {
    size: usize,
    items: Vec<Item>,
}

impl NvsImageBuilder {
    /// Opens a namespace: the keys added after it belong to it.
    pub fn namespace(mut self, name: &str) -> Self {
        self.items.push(Item::Namespace(name.to_owned()));
        self
    }

    /// Adds a key with any value.
    pub fn value(mut self, key: &str, value: NvsValue) -> Self {
        self.items.push(Item::Value {
            key: key.to_owned(),
            value,
        });
        self
    }

    /// Adds a string key (copied into a zeroizing buffer).
    pub fn string(self, key: &str, value: &str) -> Self {
        self.value(key, NvsValue::String(Zeroizing::new(value.to_owned())))
    }

    /// Adds a blob key (copied into a zeroizing buffer).
    pub fn blob(self, key: &str, value: &[u8]) -> Self {
        self.value(key, NvsValue::Blob(Zeroizing::new(value.to_vec())))
    }

    /// Adds a `u8` key.
    pub fn u8(self, key: &str, value: u8) -> Self {
        self.value(key, NvsValue::U8(value))
    }

    /// Adds an `i8` key.
    pub fn i8(self, key: &str, value: i8) -> Self {
        self.value(key, NvsValue::I8(value))
    }

    /// Adds a `u16` key.
    pub fn u16(self, key: &str, value: u16) -> Self {
        self.value(key, NvsValue::U16(value))
    }

    /// Adds an `i16` key.
    pub fn i16(self, key: &str, value: i16) -> Self {
        self.value(key, NvsValue::I16(value))
    }

    /// Adds a `u32` key.
    pub fn u32(self, key: &str, value: u32) -> Self {
        self.value(key, NvsValue::U32(value))
    }

    /// Adds an `i32` key.
    pub fn i32(self, key: &str, value: i32) -> Self {
        self.value(key, NvsValue::I32(value))
    }

    /// Adds a `u64` key.
    pub fn u64(self, key: &str, value: u64) -> Self {
        self.value(key, NvsValue::U64(value))
    }

    /// Adds an `i64` key.
    pub fn i64(self, key: &str, value: i64) -> Self {
        self.value(key, NvsValue::I64(value))
    }

    /// Checks everything, then builds the whole partition image: the used pages, the erased
    /// pages after them and the reserved last page, `size_bytes` long.
    pub fn build(&self) -> Result<Zeroizing<Vec<u8>>, NvsError> {
        if self.size % PAGE_SIZE != 0 || self.size < MIN_PARTITION_SIZE {
            return Err(NvsError::ImageSize { size: self.size });
        }
        self.check()?;
        let mut image = Zeroizing::new(vec![0xFF; self.size]);
        let mut writer = PageWriter::new(&mut image);
        let mut ns_index = 0u8;
        for item in &self.items {
            match item {
                Item::Namespace(name) => {
                    ns_index += 1;
                    writer.namespace(name, ns_index)?;
                }
                Item::Value { key, value } => write_value(&mut writer, ns_index, key, value)?,
            }
        }
        Ok(image)
    }

    /// The input checks, before any byte is laid out.
    fn check(&self) -> Result<(), NvsError> {
        let mut namespaces = HashSet::new();
        let mut keys = HashSet::new();
        let mut current: Option<&str> = None;
        for item in &self.items {
            match item {
                Item::Namespace(name) => {
                    check_key(name)?;
                    if !namespaces.insert(name.as_str()) {
                        return Err(NvsError::DuplicateNamespace {
                            namespace: name.clone(),
                        });
                    }
                    if namespaces.len() > MAX_NAMESPACES {
                        return Err(NvsError::TooManyNamespaces);
                    }
                    current = Some(name);
                }
                Item::Value { key, value } => {
                    let Some(namespace) = current else {
                        return Err(NvsError::NoNamespace { key: key.clone() });
                    };
                    check_key(key)?;
                    check_value(key, value)?;
                    if !keys.insert((namespace, key.as_str())) {
                        return Err(NvsError::DuplicateKey {
                            namespace: namespace.to_owned(),
                            key: key.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_key(key: &str) -> Result<(), NvsError> {
    let valid =
        !key.is_empty() && key.len() <= KEY_MAX_LEN && key.bytes().all(|b| b.is_ascii() && b != 0);
    if !valid {
        return Err(NvsError::InvalidKey {
            key: key.to_owned(),
        });
    }
    if GENERATOR_WIFI_KEYS.contains(&key) {
        return Err(NvsError::ReservedKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}

fn check_value(key: &str, value: &NvsValue) -> Result<(), NvsError> {
    if let NvsValue::String(s) = value {
        if s.len() > STRING_MAX_LEN {
            return Err(NvsError::StringTooLong {
                key: key.to_owned(),
                len: s.len(),
                max: STRING_MAX_LEN,
            });
        }
        if s.as_bytes().contains(&0) {
            return Err(NvsError::StringContainsNul {
                key: key.to_owned(),
            });
        }
    }
    Ok(())
}

fn write_value(
    writer: &mut PageWriter<'_>,
    ns: u8,
    key: &str,
    value: &NvsValue,
) -> Result<(), NvsError> {
    match value {
        NvsValue::U8(v) => writer.primitive(ns, key, ItemType::U8, &v.to_le_bytes()),
        NvsValue::I8(v) => writer.primitive(ns, key, ItemType::I8, &v.to_le_bytes()),
        NvsValue::U16(v) => writer.primitive(ns, key, ItemType::U16, &v.to_le_bytes()),
        NvsValue::I16(v) => writer.primitive(ns, key, ItemType::I16, &v.to_le_bytes()),
        NvsValue::U32(v) => writer.primitive(ns, key, ItemType::U32, &v.to_le_bytes()),
        NvsValue::I32(v) => writer.primitive(ns, key, ItemType::I32, &v.to_le_bytes()),
        NvsValue::U64(v) => writer.primitive(ns, key, ItemType::U64, &v.to_le_bytes()),
        NvsValue::I64(v) => writer.primitive(ns, key, ItemType::I64, &v.to_le_bytes()),
        NvsValue::String(s) => {
            let mut with_nul = Zeroizing::new(Vec::with_capacity(s.len() + 1));
            with_nul.extend_from_slice(s.as_bytes());
            with_nul.push(0);
            writer.string(ns, key, &with_nul)
        }
        NvsValue::Blob(b) => writer.blob(ns, key, b),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let builder = NvsImage::builder(0x6000)
            .namespace("mqtt")
            .string("pass", "s3cret-Value")
            .u32("pin", 987_654)
            .blob("key", b"PRIVATE");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("987654"), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(
            shown.contains("pass") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn errors_name_the_key_never_the_value() {
        let long = "v".repeat(STRING_MAX_LEN + 1);
        let err = NvsImage::builder(0x6000)
            .namespace("mqtt")
            .string("cert", &long)
            .build()
            .unwrap_err();
        assert!(matches!(err, NvsError::StringTooLong { .. }));
        assert!(!err.to_string().contains("vvvv"));
        assert!(!err.help().is_empty());
    }
}
