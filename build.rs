//! Tells the integration tests whether the captured references in `../shared/reference` are
//! beside the workspace (the route-coverage test in `tests/it/contract.rs` reads them). Without
//! them that test is marked ignored, so a run reports it as skipped (never as passed); with
//! `--run-ignored all` it fails, saying what is missing. The simulators' conformance tests find
//! the upstream specs through `sim/build.rs`.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_reference)");
    println!("cargo::rerun-if-changed=build.rs");
    let reference = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/guild-api.txt"
    ));
    println!("cargo::rerun-if-changed={}", reference.display());
    if reference.is_file() {
        println!("cargo::rustc-cfg=shared_reference");
    } else {
        println!(
            "cargo::warning=../shared/reference not found beside the workspace: the route-coverage test is skipped"
        );
    }
}
