//! MQTT credentials, byte-compatible with django-devicehub's `generate_credentials()`.
//!
//! The password is `secrets.token_urlsafe(32)`, the api key `secrets.token_hex(32)`, and the
//! stored hash is Django's encoded form (`argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash` or
//! `pbkdf2_sha256$iterations$salt$hash`), so the server's `check_password` accepts it.
//! The plaintext lives only in [`Secret`]: zeroized on drop, redacted in `Debug`, never
//! `Serialize`, and never part of an error.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use base64::Engine as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};

/// Random bytes behind an MQTT password (`secrets.token_urlsafe(32)`).
pub const PASSWORD_RANDOM_BYTES: usize = 32;
/// Random bytes behind an api key (`secrets.token_hex(32)`).
pub const API_KEY_RANDOM_BYTES: usize = 32;
/// Django's salt: 22 characters of `[a-zA-Z0-9]` (`get_random_string(22)`), used as raw bytes.
pub const SALT_LEN: usize = 22;
const SALT_ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Django's Argon2PasswordHasher defaults.
pub const ARGON2_DEFAULT_MEMORY_KIB: u32 = 102_400;
pub const ARGON2_DEFAULT_TIME_COST: u32 = 2;
pub const ARGON2_DEFAULT_PARALLELISM: u32 = 8;
pub const ARGON2_HASH_LEN: usize = 32;
/// Django 5.2's PBKDF2PasswordHasher iteration count.
pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 1_000_000;
const PBKDF2_HASH_LEN: usize = 32;
const DJANGO_ARGON2_PREFIX: &str = "argon2";
const DJANGO_PBKDF2_PREFIX: &str = "pbkdf2_sha256";

/// A plaintext secret (MQTT password or api key). It exists only in memory.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Take ownership of a plaintext read from somewhere (stdin for `verify`).
    pub fn new(plaintext: String) -> Self {
        Secret(Zeroizing::new(plaintext))
    }

    /// `secrets.token_urlsafe(32)`: 43 characters of URL-safe base64 without padding.
    pub fn generate_password() -> Result<Self> {
        let bytes = random_bytes::<PASSWORD_RANDOM_BYTES>()?;
        Ok(Secret(Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()),
        )))
    }

    /// `secrets.token_hex(32)`: 64 lower-case hex characters.
    pub fn generate_api_key() -> Result<Self> {
        let bytes = random_bytes::<API_KEY_RANDOM_BYTES>()?;
        Ok(Secret(Zeroizing::new(hex::encode(bytes.as_slice()))))
    }

    /// The plaintext, for the serial wire or a script's standard output only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A copy for the protocol layer, which zeroizes its own.
    pub fn to_zeroizing(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.as_str().to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(buf.as_mut_slice()).map_err(|e| {
        CoreError::Internal(format!(
            "the operating system's random number source failed: {e}"
        ))
    })?;
    Ok(buf)
}

fn django_salt() -> Result<String> {
    // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
    let mut salt = String::with_capacity(SALT_LEN);
    while salt.len() < SALT_LEN {
        let bytes = random_bytes::<32>()?;
        for &b in bytes.iter() {
            if b < 248 && salt.len() < SALT_LEN {
                salt.push(SALT_ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(salt)
}

/// The fingerprint kept of an api key once the server holds it.
pub fn api_key_fingerprint(api_key: &Secret) -> String {
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(api_key.expose().as_bytes()))
    )
}

/// How password hashes are made. Both forms are Django's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Argon2 {
        memory_kib: u32,
        time_cost: u32,
        parallelism: u32,
    },
    Pbkdf2Sha256 {
        iterations: u32,
    },
}

impl Default for HashAlgorithm {
    fn default() -> Self {
        HashAlgorithm::Argon2 {
            memory_kib: ARGON2_DEFAULT_MEMORY_KIB,
            time_cost: ARGON2_DEFAULT_TIME_COST,
            parallelism: ARGON2_DEFAULT_PARALLELISM,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashAlgorithm::Argon2 {
                memory_kib,
                time_cost,
                parallelism,
            } => write!(f, "argon2:m={memory_kib},t={time_cost},p={parallelism}"),
            HashAlgorithm::Pbkdf2Sha256 { iterations } => {
                write!(f, "pbkdf2_sha256:iterations={iterations}")
            }
        }
    }
}

const HASH_ALGORITHM_HELP: &str =
    "use `argon2` (Django's default parameters), `argon2:m=102400,t=2,p=8`, \
     `pbkdf2_sha256` or `pbkdf2_sha256:iterations=1000000`";

impl FromStr for HashAlgorithm {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        let bad =
            |problem: String| CoreError::invalid("hash algorithm", problem, HASH_ALGORITHM_HELP);
        let (name, params) = s.split_once(':').unwrap_or((s, ""));
        let mut kv = Vec::new();
        for part in params.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("'{part}' is not key=value")))?;
            let v: u32 = v
                .parse()
                .map_err(|_| bad(format!("'{v}' is not a whole number")))?;
            kv.push((k, v));
        }
        let mut take = |key: &str, default: u32| -> u32 {
            kv.iter()
                .position(|(k, _)| *k == key)
                .map(|i| kv.remove(i).1)
                .unwrap_or(default)
        };
        let algo = match name {
            "argon2" => {
                let memory_kib = take("m", ARGON2_DEFAULT_MEMORY_KIB);
                let time_cost = take("t", ARGON2_DEFAULT_TIME_COST);
                let parallelism = take("p", ARGON2_DEFAULT_PARALLELISM);
                argon2::Params::new(memory_kib, time_cost, parallelism, Some(ARGON2_HASH_LEN))
                    .map_err(|e| bad(format!("argon2 parameters rejected: {e}")))?;
                HashAlgorithm::Argon2 {
                    memory_kib,
                    time_cost,
                    parallelism,
                }
            }
            "pbkdf2_sha256" => {
                let iterations = take("iterations", PBKDF2_DEFAULT_ITERATIONS);
                if iterations == 0 {
                    return Err(bad("iterations must be at least 1".into()));
                }
                HashAlgorithm::Pbkdf2Sha256 { iterations }
            }
            other => return Err(bad(format!("unknown algorithm '{other}'"))),
        };
        if let Some((k, _)) = kv.first() {
            return Err(bad(format!("unknown parameter '{k}' for {name}")));
        }
        Ok(algo)
    }
}

/// How many password hashes run at once in this process: one per core. More would only
/// time-slice the same cores while each holds Argon2's working memory (about 100 MiB at Django's
/// parameters: an 8-port gang flash peaked at 1 GB) and starve the window's thread.
pub fn max_concurrent_hashes() -> usize {
    hash_slots().limit.load(Ordering::Relaxed)
}

/// Change how many hashes may run at once (at least one): fewer for a PC short of memory; the
/// flash benchmark sets one per unit for its baseline.
pub fn set_max_concurrent_hashes(n: usize) {
    let slots = hash_slots();
    slots.limit.store(n.max(1), Ordering::Relaxed);
    let _state = slots.state();
    slots.freed.notify_all();
}

struct HashSlots {
    limit: AtomicUsize,
    /// (hashes running now, the most that ever ran at once)
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

struct HashSlot(&'static HashSlots);

fn hash_slots() -> &'static HashSlots {
    static SLOTS: OnceLock<HashSlots> = OnceLock::new();
    SLOTS.get_or_init(|| HashSlots {
        limit: AtomicUsize::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
        state: Mutex::new((0, 0)),
        freed: Condvar::new(),
    })
}

impl HashSlots {
    fn state(&self) -> MutexGuard<'_, (usize, usize)> {
        // Nothing panics while the lock is held: a poisoned lock still holds valid counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acquire(&'static self) -> HashSlot {
        let mut state = self.state();
        while state.0 >= self.limit.load(Ordering::Relaxed) {
            state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.0 += 1;
        state.1 = state.1.max(state.0);
        HashSlot(self)
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        self.0.state().0 -= 1;
        self.0.freed.notify_one();
    }
}

/// Makes password hashes, keeping Argon2's working memory (about 100 MiB at Django's
/// parameters) between hashes: allocating and faulting it in again for every device costs a
/// third of the hashing time. The argon2 crate's `zeroize` feature wipes it after each hash.
pub struct Hasher {
    algorithm: HashAlgorithm,
    blocks: Vec<argon2::Block>,
}

impl Hasher {
    pub fn new(algorithm: HashAlgorithm) -> Self {
        Hasher {
            algorithm,
            blocks: Vec::new(),
        }
    }

    /// The setting this hasher makes hashes at.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// Hash a password into Django's encoded form with a fresh Django-style salt.
    pub fn hash(&mut self, password: &Secret) -> Result<String> {
        let salt = django_salt()?;
        self.hash_with_salt(password, &salt)
    }

    /// As [`Hasher::hash`] with a given salt; for test vectors against Django.
    pub fn hash_with_salt(&mut self, password: &Secret, salt: &str) -> Result<String> {
        let _slot = hash_slots().acquire();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        match self.algorithm {
            HashAlgorithm::Argon2 {
                memory_kib,
                time_cost,
                parallelism,
            } => {
                let params =
                    argon2::Params::new(memory_kib, time_cost, parallelism, Some(ARGON2_HASH_LEN))
                        .map_err(|e| CoreError::Internal(format!("argon2 parameters: {e}")))?;
                if self.blocks.len() != params.block_count() {
                    self.blocks = vec![argon2::Block::default(); params.block_count()];
                }
                let hasher = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                );
                let mut out = Zeroizing::new([0u8; ARGON2_HASH_LEN]);
                hasher
                    .hash_password_into_with_memory(
                        password.expose().as_bytes(),
                        salt.as_bytes(),
                        out.as_mut_slice(),
                        &mut self.blocks,
                    )
                    .map_err(|e| CoreError::Internal(format!("argon2 hashing failed: {e}")))?;
                // The parameter order m,t,p is the only one libargon2 (argon2-cffi) accepts.
                Ok(format!(
                    "{DJANGO_ARGON2_PREFIX}$argon2id$v=19$m={memory_kib},t={time_cost},p={parallelism}${}${}",
                    b64.encode(salt.as_bytes()),
                    b64.encode(out.as_slice())
                ))
            }
            HashAlgorithm::Pbkdf2Sha256 { iterations } => {
                let mut out = Zeroizing::new([0u8; PBKDF2_HASH_LEN]);
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    password.expose().as_bytes(),
                    salt.as_bytes(),
                    iterations,
                    out.as_mut_slice(),
                );
                Ok(format!(
                    "{DJANGO_PBKDF2_PREFIX}${iterations}${salt}${}",
                    base64::engine::general_purpose::STANDARD.encode(out.as_slice())
                ))
            }
        }
    }
}

fn unsupported_hash() -> CoreError {
    CoreError::invalid(
        "password hash",
        "the stored hash is not in a form this station understands",
        "only Django's argon2 and pbkdf2_sha256 encodings are supported; rotate the device's credentials",
    )
}

/// Check a password against a Django-encoded hash (argon2 or pbkdf2_sha256), in constant time.
pub fn verify_password(password: &Secret, encoded: &str) -> Result<bool> {
    let (algorithm, rest) = encoded.split_once('$').ok_or_else(unsupported_hash)?;
    match algorithm {
        DJANGO_ARGON2_PREFIX => {
            use argon2::PasswordVerifier as _;
            let phc = format!("${rest}");
            let parsed = argon2::PasswordHash::new(&phc).map_err(|_| unsupported_hash())?;
            Ok(argon2::Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        }
        DJANGO_PBKDF2_PREFIX => {
            let mut parts = rest.splitn(3, '$');
            let (Some(iterations), Some(salt), Some(expected)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(unsupported_hash());
            };
            let iterations: u32 = iterations.parse().map_err(|_| unsupported_hash())?;
            let expected = base64::engine::general_purpose::STANDARD
                .decode(expected)
                .map_err(|_| unsupported_hash())?;
            if expected.is_empty() || iterations == 0 {
                return Err(unsupported_hash());
            }
            let mut out = Zeroizing::new(vec![0u8; expected.len()]);
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                password.expose().as_bytes(),
                salt.as_bytes(),
                iterations,
                out.as_mut_slice(),
            );
            Ok(constant_time_eq(&out, &expected))
        }
        _ => Err(unsupported_hash()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A freshly issued set of credentials. The plaintext halves are [`Secret`]s.
#[derive(Debug)]
pub struct IssuedCredentials {
    pub device_id: String,
    pub generation: u32,
    pub mqtt_username: String,
    pub mqtt_password: Secret,
    pub api_key: Secret,
    pub password_hash: String,
    pub api_key_fingerprint: String,
}

/// A new password, api key and the password's hash. Hashing is the slow part (Argon2 with
/// Django's parameters takes a large fraction of a second), so batches call this in parallel.
pub fn issue(
    device_id: &str,
    mqtt_username: &str,
    generation: u32,
    hasher: &mut Hasher,
) -> Result<IssuedCredentials> {
    Ok(CredentialSet::generate_with(hasher)?.issue(device_id, mqtt_username, generation))
}

/// A complete set of credentials made ahead of the flash that will issue it: a fresh password
/// and api key, the password's hash and the api key's fingerprint, all made at one
/// [`HashAlgorithm`]. It belongs to no device until [`Store::begin_flash_with`] issues it, and
/// it is consumed then, so one set is issued at most once. The plaintext halves are
/// [`Secret`]s (zeroized on drop); there is no `Serialize`, and `Debug` shows no secret.
///
/// [`Store::begin_flash_with`]: crate::Store::begin_flash_with
pub struct CredentialSet {
    algorithm: HashAlgorithm,
    mqtt_password: Secret,
    api_key: Secret,
    password_hash: String,
    api_key_fingerprint: String,
}

impl CredentialSet {
    /// Make a set at `algorithm` (the slow part is the hash).
    pub fn generate(algorithm: &HashAlgorithm) -> Result<Self> {
        Self::generate_with(&mut Hasher::new(*algorithm))
    }

    /// Make a set with `hasher`, which keeps Argon2's working memory between sets.
    pub fn generate_with(hasher: &mut Hasher) -> Result<Self> {
        let mqtt_password = Secret::generate_password()?;
        let api_key = Secret::generate_api_key()?;
        let password_hash = hasher.hash(&mqtt_password)?;
        Ok(CredentialSet {
            algorithm: hasher.algorithm(),
            api_key_fingerprint: api_key_fingerprint(&api_key),
            mqtt_password,
            api_key,
            password_hash,
        })
    }

    /// The setting the password's hash was made at.
    pub fn algorithm(&self) -> &HashAlgorithm {
        &self.algorithm
    }

    /// The password's hash, in Django's encoded form.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    pub fn api_key_fingerprint(&self) -> &str {
        &self.api_key_fingerprint
    }

    /// The password's plaintext, for the proof verifiers only (see `proofs`).
    pub(crate) fn password(&self) -> &Secret {
        &self.mqtt_password
    }

    /// The api key's plaintext, for the pending record only (see `rotation`).
    pub(crate) fn api_key(&self) -> &Secret {
        &self.api_key
    }

    /// The plaintext password and api key, for tests that prove a set never reached a disk.
    #[doc(hidden)]
    pub fn plaintexts_for_tests(&self) -> (&str, &str) {
        (self.mqtt_password.expose(), self.api_key.expose())
    }

    /// Hand the set to `device_id` as its credential generation `generation`.
    pub fn issue(self, device_id: &str, mqtt_username: &str, generation: u32) -> IssuedCredentials {
        IssuedCredentials {
            device_id: device_id.to_owned(),
            generation,
            mqtt_username: mqtt_username.to_owned(),
            mqtt_password: self.mqtt_password,
            api_key: self.api_key,
            password_hash: self.password_hash,
            api_key_fingerprint: self.api_key_fingerprint,
        }
    }
}

impl fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSet")
            .field("algorithm", &self.algorithm)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// Where a [`Store`](crate::Store) takes sets made ahead of time (the station's credential
/// pool). `take` hands a set out at most once and only one made at `algorithm`; `None` means
/// the flash computes its own, as it would without a source.
pub trait CredentialSource: Send + Sync {
    fn take(&self, algorithm: &HashAlgorithm) -> Option<CredentialSet>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST_ARGON2: HashAlgorithm = HashAlgorithm::Argon2 {
        memory_kib: 64,
        time_cost: 1,
        parallelism: 1,
    };

    #[test]
    fn no_more_hashes_run_at_once_than_there_are_cores() {
        let limit = max_concurrent_hashes();
        assert!(limit >= 1);
        let algo = HashAlgorithm::Argon2 {
            memory_kib: 4096,
            time_cost: 1,
            parallelism: 1,
        };
        std::thread::scope(|scope| {
            for _ in 0..limit * 4 {
                scope.spawn(|| {
                    let mut hasher = Hasher::new(algo);
                    let password = Secret::generate_password().expect("password");
                    for _ in 0..3 {
                        hasher.hash(&password).expect("hash");
                    }
                });
            }
        });
        let (running, peak) = *hash_slots().state();
        assert!(peak >= 1);
        assert!(peak <= limit, "{peak} hashes ran at once on {limit} cores");
        // Other tests of this process may hash now; none of ours is left running.
        assert!(running <= limit);
    }

    #[test]
    fn password_and_api_key_have_django_shapes() {
        let p = Secret::generate_password().expect("password");
        assert_eq!(p.expose().len(), 43);
        assert!(p
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let k = Secret::generate_api_key().expect("api key");
        assert_eq!(k.expose().len(), 64);
        assert!(k
            .expose()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(
            Secret::generate_password().expect("p").expose(),
            p.expose(),
            "two passwords must differ"
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        let p = Secret::new("hunter2-very-secret".into());
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"));
        let creds = issue("d-001", "u", 1, &mut Hasher::new(FAST_ARGON2)).expect("issue");
        let shown = format!("{creds:?}");
        assert!(!shown.contains(creds.mqtt_password.expose()));
        assert!(!shown.contains(creds.api_key.expose()));
    }

    #[test]
    fn argon2_hash_has_django_prefix_and_verifies() {
        let p = Secret::generate_password().expect("p");
        let default = HashAlgorithm::default();
        let h = Hasher::new(default).hash(&p).expect("hash");
        assert!(
            h.starts_with("argon2$argon2id$v=19$m=102400,t=2,p=8$"),
            "{h}"
        );
        let salt_b64 = h.split('$').nth(4).expect("salt");
        let salt = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(salt_b64)
            .expect("salt b64");
        assert_eq!(salt.len(), SALT_LEN);
        assert!(salt.iter().all(u8::is_ascii_alphanumeric));
        assert!(verify_password(&p, &h).expect("verify"));
        assert!(!verify_password(&Secret::new("wrong".into()), &h).expect("verify"));
    }

    #[test]
    fn pbkdf2_matches_django_vector() {
        // Django 5.2: make_password("password", "seasalt", PBKDF2PasswordHasher) at 1 iteration
        // is computed here the way Django does: base64 of PBKDF2-HMAC-SHA256, padded.
        let p = Secret::new("password".into());
        let algo = HashAlgorithm::Pbkdf2Sha256 { iterations: 1000 };
        let h = Hasher::new(algo)
            .hash_with_salt(&p, "seasalt")
            .expect("hash");
        assert!(h.starts_with("pbkdf2_sha256$1000$seasalt$"));
        assert!(verify_password(&p, &h).expect("verify"));
        assert!(!verify_password(&Secret::new("Password".into()), &h).expect("verify"));
    }

    #[test]
    fn hash_algorithm_parses_and_prints() {
        assert_eq!(
            "argon2".parse::<HashAlgorithm>().expect("a"),
            HashAlgorithm::default()
        );
        let a: HashAlgorithm = "argon2:m=65536,t=3,p=4".parse().expect("a");
        assert_eq!(a.to_string(), "argon2:m=65536,t=3,p=4");
        let p: HashAlgorithm = "pbkdf2_sha256".parse().expect("p");
        assert_eq!(
            p,
            HashAlgorithm::Pbkdf2Sha256 {
                iterations: 1_000_000
            }
        );
        assert!("md5".parse::<HashAlgorithm>().is_err());
        assert!("argon2:q=1".parse::<HashAlgorithm>().is_err());
        assert!("argon2:m=1".parse::<HashAlgorithm>().is_err());
    }

    #[test]
    fn a_credential_set_verifies_shows_no_secret_and_issues_its_own_plaintexts() {
        let set = CredentialSet::generate(&FAST_ARGON2).expect("set");
        assert_eq!(set.algorithm(), &FAST_ARGON2);
        let (password, api_key) = set.plaintexts_for_tests();
        let (password, api_key) = (password.to_owned(), api_key.to_owned());
        let shown = format!("{set:?}");
        assert!(
            !shown.contains(&password) && !shown.contains(&api_key),
            "{shown}"
        );
        assert!(!shown.contains(set.password_hash()));
        let issued = set.issue("d-001", "u-1", 3);
        assert_eq!(issued.mqtt_password.expose(), password);
        assert_eq!(issued.api_key.expose(), api_key);
        assert_eq!(
            issued.api_key_fingerprint,
            api_key_fingerprint(&issued.api_key)
        );
        assert!(verify_password(&issued.mqtt_password, &issued.password_hash).expect("verify"));
        assert_eq!((issued.device_id.as_str(), issued.generation), ("d-001", 3));
    }

    #[test]
    fn unknown_hash_forms_are_errors_not_false() {
        let p = Secret::new("x".into());
        assert!(verify_password(&p, "md5$abc$def").is_err());
        assert!(verify_password(&p, "garbage").is_err());
    }
}
