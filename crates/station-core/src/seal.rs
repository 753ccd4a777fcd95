//! Api keys sealed to the sync server (docs/sync-api.md, "Sealed api keys").
//!
//! The server holds an X25519 key pair (`manage.py station_sync_sealkey`); `station sync config`
//! fetches its public key. From then on every api key is sealed with libsodium's
//! `crypto_box_seal` (an X25519 + XSalsa20-Poly1305 sealed box, RustCrypto's byte-compatible
//! `crypto_box`) before it touches the station database: the station can no longer open it,
//! only the server can. The row keeps the box and the fingerprint of the key it was sealed to,
//! so the server can tell a box sealed to a replaced key pair from a damaged one.
//!
//! A fingerprint is `sha256:` and the lower-case hex SHA-256 of the 32 raw public key bytes:
//! what `manage.py station_sync_sealkey --show` prints, for the operator to compare.

use std::fmt;

use base64::Engine as _;
use sha2::Digest as _;

use crate::credentials::Secret;
use crate::error::{CoreError, Result};

/// The one algorithm of the contract, as the server names it in `v1/station`.
pub const SEAL_ALGORITHM: &str = "x25519-sealedbox";
/// Length of an X25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// What `crypto_box_seal` adds to the message: an ephemeral public key and a MAC.
pub const SEAL_OVERHEAD: usize = 48;

/// The server's public seal key, checked: 32 bytes whose fingerprint is known.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey {
    public: [u8; PUBLIC_KEY_LEN],
    fingerprint: String,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.fingerprint)
    }
}

/// The fingerprint of a raw public key (`sha256:<64 lower hex>`).
pub fn fingerprint_of(public: &[u8; PUBLIC_KEY_LEN]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(public)))
}

fn bad_key(problem: String) -> CoreError {
    CoreError::invalid(
        "seal key",
        problem,
        "check that the server runs a compatible station-sync receiver; show its key with \
         `manage.py station_sync_sealkey --show`",
    )
}

impl SealKey {
    /// A public key as the server sends it: standard base64 of 32 bytes, with the fingerprint
    /// it claims (checked against the bytes when given).
    pub fn from_base64(public_key: &str, claimed_fingerprint: Option<&str>) -> Result<SealKey> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(public_key.trim())
            .map_err(|e| bad_key(format!("the public key is not base64: {e}")))?;
        let public: [u8; PUBLIC_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            bad_key(format!(
                "the public key is {} bytes, not {PUBLIC_KEY_LEN}",
                bytes.len()
            ))
        })?;
        let key = SealKey {
            fingerprint: fingerprint_of(&public),
            public,
        };
        if let Some(claimed) = claimed_fingerprint {
            if claimed != key.fingerprint {
                return Err(bad_key(format!(
                    "the server says its key is {claimed} but the key it sent is {}",
                    key.fingerprint
                )));
            }
        }
        Ok(key)
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The public key as standard base64 (how it is stored and sent).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public)
    }

    /// Seal `api_key` to the server: the box as standard base64. Each call draws a fresh
    /// ephemeral key, so two boxes of one key differ.
    pub fn seal(&self, api_key: &Secret) -> Result<SealedApiKey> {
        self.seal_str(api_key.expose())
    }

    pub(crate) fn seal_str(&self, plaintext: &str) -> Result<SealedApiKey> {
        let public = crypto_box::PublicKey::from(self.public);
        let sealed = public
            .seal(&mut crypto_box::aead::OsRng, plaintext.as_bytes())
            .map_err(|_| {
                CoreError::Internal("sealing an api key failed (random number source?)".into())
            })?;
        Ok(SealedApiKey {
            sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
            seal_key_fingerprint: self.fingerprint.clone(),
        })
    }
}

/// An api key only the server can open, and the fingerprint of the key it was sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedApiKey {
    /// Standard base64 of `crypto_box_seal(api key ASCII bytes, server public key)`.
    pub sealed: String,
    pub seal_key_fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_the_secret_key_only() {
        let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let public = *secret.public_key().as_bytes();
        let b64 = base64::engine::general_purpose::STANDARD.encode(public);
        let key = SealKey::from_base64(&b64, Some(&fingerprint_of(&public))).expect("key");
        assert_eq!(key.to_base64(), b64);
        assert!(key.fingerprint().starts_with("sha256:") && key.fingerprint().len() == 71);
        let api_key = Secret::generate_api_key().expect("api key");
        let a = key.seal(&api_key).expect("seal");
        let b = key.seal(&api_key).expect("seal");
        assert_ne!(a.sealed, b.sealed, "a fresh ephemeral key each time");
        assert!(!a.sealed.contains(api_key.expose()));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a.sealed)
            .expect("b64");
        assert_eq!(raw.len(), api_key.expose().len() + SEAL_OVERHEAD);
        let opened = secret.unseal(&raw).expect("opens");
        assert_eq!(opened, api_key.expose().as_bytes());
        let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        assert!(other.unseal(&raw).is_err(), "another key cannot open it");
    }

    #[test]
    fn a_malformed_or_mislabelled_key_is_refused() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(SealKey::from_base64("not base64!", None).is_err());
        assert!(SealKey::from_base64(
            &base64::engine::general_purpose::STANDARD.encode([7u8; 31]),
            None
        )
        .is_err());
        let err = SealKey::from_base64(&b64, Some("sha256:00")).expect_err("mislabelled");
        assert!(err.to_string().contains("sha256:00"), "{err}");
        assert!(SealKey::from_base64(&b64, None).is_ok());
    }
}
