//! Benchmark: CPU time per password hash at Django's default Argon2 parameters
//! (m=102400, t=2, p=8), the station's hasher (the RustCrypto `argon2` crate, one hash at a
//! time), printed as one JSON line. `benches/hash.sh` runs it beside the baseline, Django's own
//! hasher (argon2-cffi, the C reference implementation) with the same parameters, in one run.
//!
//!     cargo bench -p station-core --bench hash [-- COUNT]

use std::time::Instant;

use station_core::credentials::Hasher;
use station_core::{HashAlgorithm, Secret};

/// CPU seconds this process has used (user + system), from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let count: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let algorithm = HashAlgorithm::default();
    let mut hasher = Hasher::new(algorithm);
    let password = Secret::generate_password().expect("password");
    hasher.hash(&password).expect("warm-up hash");
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for _ in 0..count {
        hasher.hash(&password).expect("hash");
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "{{\"hasher\":\"station (RustCrypto argon2)\",\"algorithm\":\"{algorithm}\",\"hashes\":{count},\
         \"cpu_ms_per_hash\":{:.1},\"wall_ms_per_hash\":{:.1}}}",
        1000.0 * cpu / f64::from(count),
        1000.0 * wall / f64::from(count)
    );
}
