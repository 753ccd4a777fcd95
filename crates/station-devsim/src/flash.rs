//! The simulated device's non-volatile storage.
//!
//! This module owns [`Flash`]: the committed config blob kept either in a file the simulator
//! owns (replaced atomically: temp file, fsync, rename, fsync of the directory, so a kill at any
//! moment leaves the old or the new blob) or in memory shared with the test that started it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use station_protocol::device::{Storage, StorageError};
use station_protocol::StoredConfig;

/// Where the blob lives. Clones share the same storage.
#[derive(Debug, Clone)]
pub enum Flash {
    /// A file, loaded at start so the device's config survives restarts.
    File {
        /// Path of the blob.
        path: PathBuf,
        /// Largest blob accepted (`None`: no limit).
        capacity: Option<usize>,
    },
    /// Memory, for in-process simulators.
    Memory {
        /// The blob.
        blob: Arc<Mutex<Option<Vec<u8>>>>,
        /// Largest blob accepted (`None`: no limit).
        capacity: Option<usize>,
    },
}

impl Flash {
    /// File-backed flash.
    pub fn file(path: impl Into<PathBuf>, capacity: Option<usize>) -> Self {
        Flash::File {
            path: path.into(),
            capacity,
        }
    }

    /// Memory-backed flash, initially empty.
    pub fn memory(capacity: Option<usize>) -> Self {
        Flash::Memory {
            blob: Arc::new(Mutex::new(None)),
            capacity,
        }
    }

    /// The committed config, if the blob exists and is intact.
    pub fn contents(&self) -> Option<StoredConfig> {
        let blob = self.read().ok().flatten()?;
        StoredConfig::from_blob(&blob).ok()
    }

    fn read(&self) -> io::Result<Option<Vec<u8>>> {
        match self {
            Flash::File { path, .. } => match fs::read(path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Flash::Memory { blob, .. } => Ok(blob.lock().map(|b| b.clone()).unwrap_or(None)),
        }
    }

    fn capacity(&self) -> Option<usize> {
        match self {
            Flash::File { capacity, .. } | Flash::Memory { capacity, .. } => *capacity,
        }
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "flash path has no file name")
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is synced.
    fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

impl Storage for Flash {
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.read().map_err(|e| StorageError::Failed(e.to_string()))
    }

    fn store(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if self.capacity().is_some_and(|c| bytes.len() > c) {
            return Err(StorageError::Full);
        }
        match self {
            Flash::File { path, .. } => {
                write_atomically(path, bytes).map_err(|e| StorageError::Failed(e.to_string()))
            }
            Flash::Memory { blob, .. } => {
                let mut guard = blob
                    .lock()
                    .map_err(|_| StorageError::Failed("flash lock poisoned".to_owned()))?;
                *guard = Some(bytes.to_vec());
                Ok(())
            }
        }
    }
}
