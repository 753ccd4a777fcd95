//! The credential pool: complete credential sets ([`CredentialSet`]: password, api key, the
//! password's hash and the key's fingerprint) made ahead of time, so a flash takes one instead
//! of waiting for a hash (Argon2 at Django's parameters: ~0.3 s of a core and ~100 MiB).
//!
//! What it promises, and where each promise is kept:
//! - **In memory only.** Sets live in a `Vec` behind a mutex and nowhere else; nothing here
//!   opens a file for writing (the filler's store connection only reads the hash setting).
//! - **Issued at most once.** [`CredentialPool::take`] moves a set out of the pool; the store
//!   consumes it in `begin_flash`. A crash loses only sets still in the pool, never issued.
//! - **Never at an old setting.** The filler reads the store's hash setting before and after
//!   each hash and at least every [`SETTINGS_POLL`]; `take` is told the setting the flash
//!   read. A set made at another setting is dropped, and dropping a set zeroizes its secrets
//!   ([`station_core::Secret`]), as does dropping the pool.
//! - **Below the window, within the hash limit.** One filler thread, niced, hashing through
//!   the core's global hash slots
//!   ([`station_core::credentials::max_concurrent_hashes`]), and only while no
//!   job of its flasher runs (the station is idle: the worker is swapping units).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use station_core::credentials::{CredentialSet, CredentialSource, HashAlgorithm, Hasher};
use station_core::{CoreError, Result, Store};

/// Sets kept ready per port in recent use. One is taken by the unit flashing now and one waits
/// for the next unit on that port, while the first is made again in the time a worker takes to
/// swap units (seconds; one hash is a fraction of one).
pub const SETS_PER_PORT: usize = 2;
/// At most this many sets: two for each port of an 8-port gang. More would only lengthen the
/// refill after a settings change and keep more secrets in memory, for no unit that waits.
pub const MAX_READY: usize = 16;
/// A port counts toward the target for this long after its last job.
pub const RECENT_PORT: Duration = Duration::from_secs(10 * 60);
/// How often an idle filler reads the hash setting, to empty the pool after a change made by
/// another process (the app's settings screen or `station settings`).
pub const SETTINGS_POLL: Duration = Duration::from_secs(1);
/// The filler's nice value when the flasher has none: the pool is never urgent.
pub const DEFAULT_POOL_NICE: i32 = 10;

/// What the pool holds now, for a face to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PoolStatus {
    /// Sets ready to be issued.
    pub ready: u32,
    /// How many it keeps ready for the ports in use.
    pub target: u32,
    /// A set is being made now.
    pub filling: bool,
    /// The hash setting the ready sets were made at (`None` before the store was read).
    pub algorithm: Option<String>,
}

/// Complete credential sets made ahead of time by a background thread; see the module.
pub struct CredentialPool {
    shared: Arc<Shared>,
    filler: Option<JoinHandle<()>>,
}

struct Shared {
    db: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    sets: Vec<CredentialSet>,
    algorithm: Option<HashAlgorithm>,
    ports: HashMap<String, Instant>,
    running_jobs: usize,
    filling: bool,
    stop: bool,
}

impl State {
    fn target(&self, now: Instant) -> usize {
        let recent = self
            .ports
            .values()
            .filter(|used| now.duration_since(**used) < RECENT_PORT)
            .count();
        (recent * SETS_PER_PORT).clamp(1, MAX_READY)
    }

    /// The store's setting is `algorithm`: sets made at any other are dropped (zeroized).
    fn follow(&mut self, algorithm: HashAlgorithm) {
        if self.algorithm != Some(algorithm) {
            self.sets.clear();
            self.algorithm = Some(algorithm);
        }
    }

    fn wants_a_set(&self) -> bool {
        !self.stop
            && self.algorithm.is_some()
            && self.running_jobs == 0
            && self.sets.len() < self.target(Instant::now())
    }
}

/// A job of the pool's flasher is running; the filler waits until none is.
pub struct JobInProgress(Arc<Shared>);

impl Drop for JobInProgress {
    fn drop(&mut self) {
        self.0.lock().running_jobs -= 1;
        self.0.wake.notify_all();
    }
}

impl CredentialPool {
    /// Start a pool for the station database at `db`, its filler thread at `nice` (Linux), and
    /// never less nice than [`DEFAULT_POOL_NICE`].
    pub fn start(db: impl Into<PathBuf>, nice: Option<i32>) -> Result<Self> {
        let shared = Arc::new(Shared {
            db: db.into(),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let for_filler = Arc::clone(&shared);
        let filler = std::thread::Builder::new()
            .name("credential pool".into())
            .spawn(move || {
                // Never above the window, even when the flashes themselves are not lowered.
                let nice = nice.map_or(DEFAULT_POOL_NICE, |n| n.max(DEFAULT_POOL_NICE));
                crate::flasher::lower_thread_priority(Some(nice));
                for_filler.fill();
            })
            .map_err(|e| {
                CoreError::Internal(format!("cannot start the credential pool's thread: {e}"))
            })?;
        Ok(CredentialPool {
            shared,
            filler: Some(filler),
        })
    }

    /// A ready set made at `algorithm` (the setting the flash just read), out of the pool for
    /// good; `None` when there is none (the flash computes one) or the setting changed (the
    /// pool empties and refills at the new one).
    pub fn take(&self, algorithm: &HashAlgorithm) -> Option<CredentialSet> {
        self.shared.take(algorithm)
    }

    /// The pool as a [`CredentialSource`] for a store.
    pub fn source(&self) -> Arc<dyn CredentialSource> {
        Arc::clone(&self.shared) as Arc<dyn CredentialSource>
    }

    pub fn status(&self) -> PoolStatus {
        let state = self.shared.lock();
        PoolStatus {
            ready: state.sets.len() as u32,
            target: state.target(Instant::now()) as u32,
            filling: state.filling,
            algorithm: state.algorithm.map(|a| a.to_string()),
        }
    }

    /// Units are coming on `ports`: keep sets ready for them before their first job.
    pub fn expect_ports(&self, ports: &[String]) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        for port in ports {
            state.ports.insert(port.clone(), now);
        }
        drop(state);
        self.shared.wake.notify_all();
    }

    /// A job on `port` begins: the port counts as in use, and the filler waits until the
    /// returned guard and every other is dropped.
    pub fn job(&self, port: &str) -> JobInProgress {
        let mut state = self.shared.lock();
        state.ports.insert(port.to_owned(), Instant::now());
        state.running_jobs += 1;
        JobInProgress(Arc::clone(&self.shared))
    }

    /// Look at the ready sets (tests prove with it that their plaintexts reach no disk and
    /// that no set is issued twice).
    #[doc(hidden)]
    pub fn with_ready_sets<R>(&self, f: impl FnOnce(&[CredentialSet]) -> R) -> R {
        f(&self.shared.lock().sets)
    }
}

impl Drop for CredentialPool {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(filler) = self.filler.take() {
            if filler.join().is_err() {
                tracing::warn!("the credential pool's thread panicked");
            }
        }
        // Dropping the sets zeroizes their secrets.
        self.shared.lock().sets.clear();
    }
}

impl CredentialSource for Shared {
    fn take(&self, algorithm: &HashAlgorithm) -> Option<CredentialSet> {
        let mut state = self.lock();
        state.follow(*algorithm);
        let set = state.sets.pop();
        drop(state);
        // One fewer ready: the filler makes another once the station is idle.
        self.wake.notify_all();
        set
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held: a poisoned lock still holds valid sets.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The filler: while the station is idle and the pool short, make one set at a time at
    /// the store's setting; otherwise sleep until woken or the setting is due to be read.
    fn fill(&self) {
        let mut store: Option<Store> = None;
        let mut hasher: Option<Hasher> = None;
        loop {
            let algorithm = self.read_setting(&mut store);
            let mut state = self.lock();
            if let Some(a) = algorithm {
                state.follow(a);
            }
            if state.stop {
                return;
            }
            // An unreadable setting makes nothing: the last one read may be out of date.
            state.filling = algorithm.is_some() && state.wants_a_set();
            let Some(algorithm) = state.algorithm.filter(|_| state.filling) else {
                // Idle or full: Argon2's working memory is not worth keeping.
                hasher = None;
                drop(self.wake.wait_timeout(state, SETTINGS_POLL));
                continue;
            };
            drop(state);
            let hasher = match &mut hasher {
                Some(h) if h.algorithm() == algorithm => h,
                slot => slot.insert(Hasher::new(algorithm)),
            };
            match CredentialSet::generate_with(hasher) {
                Ok(set) => self.keep(set, &mut store),
                Err(e) => {
                    tracing::warn!(error = %e, "the credential pool cannot make a set");
                    let state = self.lock();
                    drop(self.wake.wait_timeout(state, SETTINGS_POLL));
                }
            }
        }
    }

    /// Keep a set just made, if the store's setting is still the one it was made at.
    fn keep(&self, set: CredentialSet, store: &mut Option<Store>) {
        let algorithm = self.read_setting(store);
        let mut state = self.lock();
        if let Some(a) = algorithm {
            state.follow(a);
        }
        if state.algorithm.as_ref() == Some(set.algorithm()) && !state.stop {
            state.sets.push(set);
        }
        state.filling = false;
    }

    /// The store's hash setting now; `None` (and a warning) when it cannot be read, so the
    /// pool makes nothing until it can.
    fn read_setting(&self, store: &mut Option<Store>) -> Option<HashAlgorithm> {
        let read = match store {
            Some(s) => s.hash_algorithm(),
            None => Store::open(&self.db).and_then(|s| {
                let a = s.hash_algorithm();
                *store = Some(s);
                a
            }),
        };
        match read {
            Ok(a) => Some(a),
            Err(e) => {
                *store = None;
                tracing::warn!(error = %e, "the credential pool cannot read the hash setting");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sets per port in recent use, at least one (a station with no job yet still flashes
    /// its first unit warm) and at most [`MAX_READY`]; a port unused for [`RECENT_PORT`] no
    /// longer counts.
    #[test]
    fn the_target_follows_the_ports_in_recent_use() {
        let now = Instant::now();
        let mut state = State::default();
        assert_eq!(state.target(now), 1);
        for i in 0..3 {
            state.ports.insert(format!("p{i}"), now);
        }
        assert_eq!(state.target(now), 6);
        for i in 3..20 {
            state.ports.insert(format!("p{i}"), now);
        }
        assert_eq!(state.target(now), MAX_READY);
        let later = now + RECENT_PORT;
        assert_eq!(
            state.target(later),
            1,
            "ports idle for long no longer count"
        );
    }
}
