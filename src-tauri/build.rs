//! Embeds the web UI (`ui/dist`) and the Tauri context at build time.
//!
//! A workspace build must not need Node: when the UI has not been built yet, a placeholder page
//! saying how to build it is embedded instead (`scripts/run.sh` and the E2E suite build the UI
//! first). Generating the context here, not in a macro, makes cargo re-embed the UI whenever
//! `ui/dist` changes.

use std::path::Path;

fn main() {
    let dist = Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        let page = "<!doctype html><meta charset=utf-8><title>DeviceHub Station</title>\
            <body style=\"font:24px sans-serif;padding:2em\"><h1>The station's screens are not built</h1>\
            <p>Run <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then build the app again \
            (or run <code>bash scripts/run.sh</code>, which does all of it).</p>";
        if let Err(e) = std::fs::create_dir_all(dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), page))
        {
            println!(
                "cargo:warning=cannot write a placeholder UI to {}: {e}",
                dist.display()
            );
        }
    }
    println!("cargo:rerun-if-changed=../ui/dist");
    println!("cargo:rerun-if-changed=capabilities");
    let attributes = tauri_build::Attributes::new().codegen(tauri_build::CodegenContext::new());
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
