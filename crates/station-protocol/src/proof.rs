//! Possession proofs (version 1.1, spec §10.3): the MAC a unit answers PROVE with, computed the
//! same way by the device model (from its committed password) and by the station (from a
//! password it has just generated, to make its one-time verifiers).
//!
//! `mac = HMAC-SHA256(password, "DHPROVE1:<device_id>:<nonce in lower-case hex>")`. Only the
//! station's verifiers (a nonce and SHA-256 of the mac) ever reach a disk; the mac itself and
//! the password never do.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::spec;

/// A PROVE nonce: 16 random bytes, 32 hex digits on the wire.
pub type ProofNonce = [u8; spec::PROVE_NONCE_HEX / 2];
/// A PROVE answer: an HMAC-SHA256, 64 hex digits on the wire.
pub type ProofMac = [u8; spec::PROVE_MAC_HEX / 2];

/// The message a proof authenticates: `DHPROVE1:<device_id>:<nonce hex>`.
pub fn proof_message(device_id: &str, nonce: &ProofNonce) -> Vec<u8> {
    format!(
        "{}:{device_id}:{}",
        spec::PROOF_MESSAGE_PREFIX,
        hex::encode(nonce)
    )
    .into_bytes()
}

/// The mac a unit holding `password` for `device_id` answers to `PROVE <nonce>`.
pub fn proof_mac(password: &[u8], device_id: &str, nonce: &ProofNonce) -> ProofMac {
    // HMAC takes a key of any length (RFC 2104), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(password)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(&proof_message(device_id, nonce));
    mac.finalize().into_bytes().into()
}

/// What the station stores of a mac: its SHA-256. Answering a nonce needs the mac itself,
/// which a reader of the hash cannot get back.
pub fn mac_hash(mac: &ProofMac) -> [u8; 32] {
    Sha256::digest(mac).into()
}

/// Compares two macs' hashes in constant time.
pub fn mac_matches(mac: &ProofMac, stored_hash: &[u8]) -> bool {
    let hash = mac_hash(mac);
    hash.len() == stored_hash.len()
        && hash
            .iter()
            .zip(stored_hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
