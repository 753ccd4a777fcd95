//! The TypeScript bindings the UI is written against (`ui/src/lib/bindings.ts`, committed) are
//! exactly what the Rust commands, events and types generate today.
//!
//! After changing a command, an event or a type, regenerate them with
//! `UPDATE_BINDINGS=1 cargo test -p station-app --test bindings`.

use std::path::Path;

#[test]
fn committed_bindings_match_the_rust_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh_path = dir.path().join("bindings.ts");
    station_app::specta_builder()
        .export(station_app::typescript(), &fresh_path)
        .expect("export the bindings");
    let fresh = std::fs::read_to_string(&fresh_path).expect("read the fresh bindings");
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(station_app::BINDINGS_PATH);
    if std::env::var("UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
        std::fs::write(&committed_path, &fresh).expect("write the bindings");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert!(
        committed == fresh,
        "{} is stale: run `UPDATE_BINDINGS=1 cargo test -p station-app --test bindings` and commit it",
        committed_path.display()
    );
}
