//! Errors of the NVS image builder and of the partition table reader, each with a stable code
//! and a help line saying what to do.
//!
//! No variant holds a value: only key names, sizes and partition labels, so no message, log or
//! error payload can carry a secret written into the image.

/// Everything that can stop an image from being built or a partition from being found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvsError {
    /// The requested image size is not whole 4 KiB pages, or too small for read/write NVS.
    #[error("an NVS image of {size} bytes is not possible: it must be a multiple of 4096 and at least 12288 (0x3000)")]
    ImageSize {
        /// Size asked for, in bytes.
        size: usize,
    },
    /// The entries need more pages than the size holds (one page is always kept in reserve).
    #[error("the keys do not fit in an NVS partition of {size} bytes")]
    TooManyEntries {
        /// Size of the image, in bytes.
        size: usize,
    },
    /// A key or namespace name is empty, longer than 15 characters, or not plain ASCII.
    #[error("NVS key {key:?} is not valid: it must be 1 to 15 ASCII characters with no NUL")]
    InvalidKey {
        /// The offending key (a name, never a value).
        key: String,
    },
    /// A string value is longer than the generator can write on one page.
    #[error("the value of NVS key {key:?} is {len} bytes; a string holds at most {max}")]
    StringTooLong {
        /// Key of the string.
        key: String,
        /// Its length in bytes, without the NUL.
        len: usize,
        /// The limit, without the NUL.
        max: usize,
    },
    /// A string value contains a NUL byte, which would cut it short on the device.
    #[error("the value of NVS key {key:?} contains a NUL byte")]
    StringContainsNul {
        /// Key of the string.
        key: String,
    },
    /// A blob needs more chunks than one version-2 blob may have.
    #[error("the blob under NVS key {key:?} is {len} bytes, more than one NVS blob may hold")]
    BlobTooLarge {
        /// Key of the blob.
        key: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A value was added before any namespace.
    #[error("NVS key {key:?} comes before any namespace")]
    NoNamespace {
        /// The first key without a namespace.
        key: String,
    },
    /// A namespace was opened twice.
    #[error("NVS namespace {namespace:?} is opened twice")]
    DuplicateNamespace {
        /// The namespace name.
        namespace: String,
    },
    /// More namespaces than the one-byte namespace index allows.
    #[error("an NVS partition holds at most 254 namespaces")]
    TooManyNamespaces,
    /// A key appears twice in one namespace.
    #[error("NVS key {key:?} appears twice in namespace {namespace:?}")]
    DuplicateKey {
        /// The namespace.
        namespace: String,
        /// The repeated key.
        key: String,
    },
    /// A key for which Espressif's generator adds hidden Wi-Fi entries.
    #[error("NVS key {key:?} is reserved: Espressif's generator adds hidden Wi-Fi entries for it")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// The bytes read at the partition table offset are not a partition table.
    #[error("no ESP32 partition table here: {reason}")]
    NotAPartitionTable {
        /// What was found instead.
        reason: &'static str,
    },
    /// The partition table is damaged.
    #[error("the ESP32 partition table is damaged at entry {index}: {reason}")]
    CorruptPartitionTable {
        /// Zero-based entry number.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The partition table has no NVS data partition (with the label asked for, if any).
    #[error("the partition table has no NVS data partition{}", label.as_deref().map(|l| format!(" labelled {l:?}")).unwrap_or_default())]
    NoNvsPartition {
        /// The label asked for, if any.
        label: Option<String>,
    },
    /// The NVS partition is smaller than the image to write into it.
    #[error("NVS partition {label:?} is {size} bytes; the image needs {needed}")]
    PartitionTooSmall {
        /// Label of the partition.
        label: String,
        /// Its size in bytes.
        size: u32,
        /// Bytes the image needs.
        needed: usize,
    },
}

impl NvsError {
    /// A stable, machine-readable code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            NvsError::ImageSize { .. } => "nvs_image_size",
            NvsError::TooManyEntries { .. } => "nvs_too_many_entries",
            NvsError::InvalidKey { .. } => "nvs_invalid_key",
            NvsError::StringTooLong { .. } => "nvs_string_too_long",
            NvsError::StringContainsNul { .. } => "nvs_string_contains_nul",
            NvsError::BlobTooLarge { .. } => "nvs_blob_too_large",
            NvsError::NoNamespace { .. } => "nvs_no_namespace",
            NvsError::DuplicateNamespace { .. } => "nvs_duplicate_namespace",
            NvsError::TooManyNamespaces => "nvs_too_many_namespaces",
            NvsError::DuplicateKey { .. } => "nvs_duplicate_key",
            NvsError::ReservedKey { .. } => "nvs_reserved_key",
            NvsError::NotAPartitionTable { .. } => "not_a_partition_table",
            NvsError::CorruptPartitionTable { .. } => "partition_table_corrupt",
            NvsError::NoNvsPartition { .. } => "no_nvs_partition",
            NvsError::PartitionTooSmall { .. } => "nvs_partition_too_small",
        }
    }

    /// What to do about it, in words for the person setting up the device type.
    pub fn help(&self) -> &'static str {
        match self {
            NvsError::ImageSize { .. } => {
                "use the NVS partition's size from the partition table (a multiple of 0x1000, at least 0x3000)"
            }
            NvsError::TooManyEntries { .. } | NvsError::PartitionTooSmall { .. } => {
                "use a larger NVS partition in the firmware's partition table, or map fewer or shorter values"
            }
            NvsError::InvalidKey { .. } => {
                "rename the key in the device type's key mapping: 1 to 15 ASCII characters"
            }
            NvsError::StringTooLong { .. } => {
                "store a value this long as a blob, or shorten it"
            }
            NvsError::StringContainsNul { .. } => "remove the NUL byte, or store the value as a blob",
            NvsError::BlobTooLarge { .. } => "split the value over several keys",
            NvsError::NoNamespace { .. } => "open a namespace before adding keys",
            NvsError::DuplicateNamespace { .. } => "list each namespace once, with all its keys",
            NvsError::TooManyNamespaces => "use fewer namespaces",
            NvsError::DuplicateKey { .. } => "map each key once per namespace",
            NvsError::ReservedKey { .. } => "pick another key name in the device type's key mapping",
            NvsError::NotAPartitionTable { .. } => {
                "check the partition table offset (0x8000 by default) and that the chip holds ESP-IDF firmware"
            }
            NvsError::CorruptPartitionTable { .. } => {
                "flash the firmware's partition table again, then retry"
            }
            NvsError::NoNvsPartition { .. } => {
                "check the NVS partition label in the device type against the firmware's partition table"
            }
        }
    }
}
