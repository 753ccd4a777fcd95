//! Where a device keeps its committed config: the [`Storage`] trait, whose one promise is an
//! atomic replace (after a power loss, the old blob or the new one, never a mix), the
//! [`StorageError`]s a write may end in, and [`MemoryStorage`], the RAM storage tests and the
//! simulator's fault injection build on.

/// Why storage refused a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The blob does not fit.
    #[error("storage full")]
    Full,
    /// The write failed; the previous blob is still intact.
    #[error("storage failed: {0}")]
    Failed(String),
}

/// Non-volatile storage for the committed config blob. `store` must be atomic: after a power
/// loss at any moment, `load` returns either the old blob or the new one, never a mix.
pub trait Storage {
    /// The stored blob, if any.
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the stored blob atomically.
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError>;
}

/// Storage in RAM, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    /// The blob.
    pub blob: Option<Vec<u8>>,
    /// If set, `store` fails with this error (and keeps the old blob).
    pub fail_with: Option<StorageError>,
}

impl Storage for MemoryStorage {
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.blob.clone())
    }
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        self.blob = Some(blob.to_vec());
        Ok(())
    }
}
