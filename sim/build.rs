//! Tells the simulators' tests whether the official upstream OpenAPI files are available: from
//! `ROSTER_UPSTREAM_SPECS`, or by default from `../shared/upstream-specs` beside the workspace.
//! Without them the conformance tests are marked ignored, so a run reports them as skipped
//! (never as passed); with `--run-ignored all` they fail, saying what is missing.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(upstream_specs)");
    println!("cargo::rerun-if-env-changed=ROSTER_UPSTREAM_SPECS");
    println!("cargo::rerun-if-changed=build.rs");
    let folder = std::env::var_os("ROSTER_UPSTREAM_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/upstream-specs"
            ))
        });
    let files = ["roblox-openapi.json", "discord-openapi.json"].map(|f| folder.join(f));
    if files.iter().all(|f| f.is_file()) {
        println!("cargo::rustc-cfg=upstream_specs");
        for f in &files {
            println!("cargo::rerun-if-changed={}", f.display());
        }
    } else {
        println!(
            "cargo::warning=upstream specs not found in {} (set ROSTER_UPSTREAM_SPECS): the simulators' conformance tests are skipped",
            folder.display()
        );
    }
}
