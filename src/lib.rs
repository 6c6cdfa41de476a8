//! Roster: a self-hostable operations platform for Roblox groups and Discord communities.
//!
//! This crate is the `roster` binary's library half: [`app`] assembles the control plane and
//! the standalone worker from the workspace crates, [`dev`] adds the simulators and demo data
//! for `roster dev`, and [`telemetry`] sets up logging. `src/main.rs` is the command line.

pub mod app;
pub mod chaos;
pub mod dev;
pub mod telemetry;
