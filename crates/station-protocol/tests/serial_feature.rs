//! The `serial` feature is what links `serialport`: without it, a user of this crate's data
//! (frames, keys, digests, the device model; a database-only tool) builds nothing of it.
//!
//! Checked with the real dependency resolver (`cargo tree`, offline, on the committed lockfile),
//! not by reading Cargo.toml, so a dependent edge added any other way fails too.

use std::process::Command;

/// The normal (non-dev, non-build) dependency tree of this crate with `extra` arguments.
fn normal_tree(extra: &[&str]) -> String {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--manifest-path", manifest, "-p", "station-protocol"])
        .args(extra)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn links_serialport(tree: &str) -> bool {
    tree.lines().any(|l| l.starts_with("serialport "))
}

#[test]
fn serialport_is_linked_only_with_the_serial_feature() {
    let without = normal_tree(&[]);
    assert!(
        !links_serialport(&without),
        "station-protocol without features depends on serialport:\n{without}"
    );
    let with = normal_tree(&["--features", "serial"]);
    assert!(
        links_serialport(&with),
        "station-protocol with `serial` does not depend on serialport:\n{with}"
    );
}
