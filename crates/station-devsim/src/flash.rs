//! The simulated device's non-volatile storage.
//!
//! This module owns [`Flash`]: the committed config blob kept either in a file the simulator
//! owns (replaced atomically: temp file, fsync, rename, fsync of the directory, so a kill at any
//! moment leaves the old or the new blob) or in memory shared with the test that started it.
//!
//! A file never holds the blob in the clear: the blob holds the device's MQTT password and api
//! key, and the station promises that no disk but the device's own ever does. The whole blob is
//! sealed with ChaCha20-Poly1305 under a [`FlashKey`] that lives only in memory (a test that
//! restarts the `station-devsim` binary passes it in [`FLASH_KEY_ENV`]). Sealing the whole blob
//! rather than picking out the secret values keeps one rule with no list to fall behind the
//! spec's keys, and the tag makes a file written under another key (or damaged) a clear error at
//! start instead of a unit that silently holds nothing. A restarted unit needs the secrets
//! themselves (it answers PROVE with an HMAC over its password), so keeping only hashes would
//! not do.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key as CipherKey, Nonce};
use station_protocol::device::{Storage, StorageError};
use station_protocol::StoredConfig;
use zeroize::Zeroizing;

/// Environment variable the `station-devsim` binary reads its [`FlashKey`] from: 64 hex digits.
/// It is never written to disk; a test that restarts a simulator keeps it in memory and passes
/// it to every run.
pub const FLASH_KEY_ENV: &str = "STATION_DEVSIM_FLASH_KEY";

/// What a sealed flash file starts with; names the format's version.
pub const SEALED_MAGIC: &[u8] = b"DHSIMSEAL1";
/// Bytes of a [`FlashKey`].
pub const FLASH_KEY_LEN: usize = 32;
/// Bytes of the nonce after [`SEALED_MAGIC`]: a fresh random one for every write.
const NONCE_LEN: usize = 12;

/// The key a flash file is sealed with. Lives in memory only.
#[derive(Clone)]
pub struct FlashKey(Arc<Zeroizing<[u8; FLASH_KEY_LEN]>>);

impl std::fmt::Debug for FlashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlashKey(..)")
    }
}

/// A flash key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FlashKeyError {
    /// Not 64 hex digits.
    #[error("{FLASH_KEY_ENV} must be {} hex digits (a 256-bit key); generate one with `openssl rand -hex 32`", FLASH_KEY_LEN * 2)]
    Malformed,
    /// No randomness for a new key.
    #[error("no randomness for a flash key: {0}")]
    NoRandomness(String),
}

impl FlashKey {
    /// A fresh random key.
    pub fn random() -> Result<Self, FlashKeyError> {
        let mut key = Zeroizing::new([0u8; FLASH_KEY_LEN]);
        getrandom::fill(key.as_mut_slice())
            .map_err(|e| FlashKeyError::NoRandomness(e.to_string()))?;
        Ok(FlashKey(Arc::new(key)))
    }

    /// A key given as 64 hex digits (what [`FLASH_KEY_ENV`] holds).
    pub fn from_hex(hex_digits: &str) -> Result<Self, FlashKeyError> {
        let mut key = Zeroizing::new([0u8; FLASH_KEY_LEN]);
        hex::decode_to_slice(hex_digits.trim(), key.as_mut_slice())
            .map_err(|_| FlashKeyError::Malformed)?;
        Ok(FlashKey(Arc::new(key)))
    }

    /// The key as 64 hex digits, to pass to a `station-devsim` process in [`FLASH_KEY_ENV`].
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// This process's key: random, made once, gone when the process ends. In-process
    /// simulators with no key of their own use it, so a test that restarts one finds its flash.
    pub fn process() -> Result<Self, FlashKeyError> {
        static KEY: OnceLock<FlashKey> = OnceLock::new();
        if let Some(k) = KEY.get() {
            return Ok(k.clone());
        }
        let made = FlashKey::random()?;
        Ok(KEY.get_or_init(|| made).clone())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(CipherKey::from_slice(self.0.as_slice()))
    }

    /// `MAGIC | nonce | ciphertext+tag` of `blob`.
    fn seal(&self, blob: &[u8]) -> io::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| io::Error::other(format!("no nonce: {e}")))?;
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), blob)
            .map_err(|_| io::Error::other("cannot seal the flash blob"))?;
        let mut out = Vec::with_capacity(SEALED_MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The blob inside a sealed file; an error names why it does not open.
    fn open(&self, file: &[u8]) -> io::Result<Vec<u8>> {
        let rest = file.strip_prefix(SEALED_MAGIC).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the flash file is not a sealed devsim flash (written by an older devsim?): delete it",
            )
        })?;
        if rest.len() < NONCE_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the flash file is truncated",
            ));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the flash file does not open with this key (sealed under another \
                         {FLASH_KEY_ENV}, or damaged)"
                    ),
                )
            })
    }
}

/// Where the blob lives. Clones share the same storage.
#[derive(Debug, Clone)]
pub enum Flash {
    /// A file, sealed under `key`, loaded at start so the device's config survives restarts.
    File {
        /// Path of the sealed blob.
        path: PathBuf,
        /// What the blob is sealed with.
        key: FlashKey,
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
    /// File-backed flash sealed under `key`.
    pub fn file(path: impl Into<PathBuf>, key: FlashKey, capacity: Option<usize>) -> Self {
        Flash::File {
            path: path.into(),
            key,
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
            Flash::File { path, key, .. } => match fs::read(path) {
                Ok(b) => key.open(&b).map(Some),
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
            Flash::File { path, key, .. } => key
                .seal(bytes)
                .and_then(|sealed| write_atomically(path, &sealed))
                .map_err(|e| StorageError::Failed(e.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_opens_only_with_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("unit.flash");
        let key = FlashKey::random().expect("key");
        let mut flash = Flash::file(&path, key.clone(), None);
        flash.store(b"secret-blob").expect("store");
        let on_disk = fs::read(&path).expect("read");
        assert!(on_disk.starts_with(SEALED_MAGIC));
        assert!(!on_disk.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            flash.load().expect("load").as_deref(),
            Some(&b"secret-blob"[..])
        );
        let same = FlashKey::from_hex(&key.to_hex()).expect("hex");
        assert!(Flash::file(&path, same, None).load().is_ok());
        let other = FlashKey::random().expect("key");
        let err = Flash::file(&path, other, None)
            .load()
            .expect_err("another key");
        assert!(err.to_string().contains(FLASH_KEY_ENV), "{err}");
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(FlashKey::from_hex("abc").is_err());
        assert!(FlashKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(FlashKey::from_hex(&"ab".repeat(32)).is_ok());
    }
}
