//! The vendor tools these tests check the crate against, run from the pinned venv
//! (`tools/vendor/setup-venv.sh`, which CI runs too), and a comparison that reports where two
//! images differ without printing their bytes.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use station_nvs::format::{ENTRY_SIZE, FIRST_ENTRY_OFFSET, PAGE_SIZE};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's bin directory: the last stdout line of the setup script.
pub fn vendor_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tools/vendor/setup-venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tools/vendor/setup-venv.sh");
        assert!(out.status.success(), "tools/vendor/setup-venv.sh failed");
        let stdout = String::from_utf8(out.stdout).expect("utf8");
        PathBuf::from(stdout.lines().last().expect("venv bin line").trim())
    })
}

pub fn vendor_python() -> PathBuf {
    vendor_bin().join("python")
}

/// Runs `python -m esp_idf_nvs_partition_gen generate in.csv out.bin SIZE` in a temp dir and
/// returns the image, or `None` when the generator refuses (non-zero exit or no full image).
pub fn generator_image(csv: &str, size: usize) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("in.csv"), csv).expect("write csv");
    let status = Command::new(vendor_python())
        .args([
            "-m",
            "esp_idf_nvs_partition_gen",
            "generate",
            "in.csv",
            "out.bin",
        ])
        .arg(format!("0x{size:x}"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the NVS generator");
    let image = std::fs::read(dir.path().join("out.bin")).ok();
    match image {
        Some(image) if status.success() && image.len() == size => Some(image),
        _ => None,
    }
}

/// Fails with the first differing page and entry, never the bytes (they may hold values).
pub fn assert_same_image(ours: &[u8], theirs: &[u8], case: &str) {
    assert_eq!(ours.len(), theirs.len(), "{case}: image lengths differ");
    if let Some(at) = ours.iter().zip(theirs).position(|(a, b)| a != b) {
        let page = at / PAGE_SIZE;
        let in_page = at % PAGE_SIZE;
        let place = if in_page < 32 {
            "the page header".to_owned()
        } else if in_page < FIRST_ENTRY_OFFSET {
            "the entry state bitmap".to_owned()
        } else {
            let entry = (in_page - FIRST_ENTRY_OFFSET) / ENTRY_SIZE;
            format!(
                "entry {entry}, byte {}",
                (in_page - FIRST_ENTRY_OFFSET) % ENTRY_SIZE
            )
        };
        panic!("{case}: images differ first at offset 0x{at:x}: page {page}, {place}");
    }
}
