//! The simulators' own test binary: the Roblox Open Cloud, Discord REST and NamelessMC simulators
//! over real HTTP on loopback, each test with its own simulator. Tests of Roster against the simulators are
//! in the root crate's `tests/it/`.

use std::path::{Path, PathBuf};

mod discord;
mod nameless;
mod roblox;

/// The folder holding the official upstream OpenAPI files (`roblox-openapi.json`,
/// `discord-openapi.json`): `ROSTER_UPSTREAM_SPECS` when set, else `../shared/upstream-specs`
/// beside the workspace when it exists. `build.rs` makes the same choice at build time and marks
/// the conformance tests ignored (reported as skipped) when there is none.
pub fn upstream_specs() -> Option<PathBuf> {
    if let Some(folder) = std::env::var_os("ROSTER_UPSTREAM_SPECS") {
        return Some(folder.into());
    }
    let default = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/upstream-specs"
    ));
    default.is_dir().then(|| default.to_path_buf())
}
